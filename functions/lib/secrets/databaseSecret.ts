import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DatabaseEndpoint } from '../db/connection.ts';
import { parseConnectionUrl, tlsModeFor, urlParts } from '../db/connectionUrl.ts';
import type { TlsSettings } from '../db/tls.ts';
import { SecretInvalid, SecretsUnreachable } from '../errors.ts';
import type { Clock } from '../runtime.ts';

/** Where the database is when the secret does not say: an RDS-managed master secret holds only the credentials. */
export interface EndpointDefaults {
  host?: string;
  port?: number;
  database?: string;
}

/** Reads a secret's string, from a cache when it is fresh enough, or from Secrets Manager when `fresh`. */
export type SecretReader = (secretArn: string, options?: { fresh?: boolean }) => Promise<string>;

/**
 * Reads secrets from Secrets Manager, caching each for `ttlMs` across warm invocations so a busy
 * pipeline does not call Secrets Manager on every step. Failures are named: no route from the VPC
 * is `SecretsUnreachable` (retried); a missing, forbidden or undecryptable secret is `SecretInvalid`.
 */
export function cachedSecretReader(
  client: SecretsManagerClient,
  { ttlMs, clock }: { ttlMs: number; clock: Clock },
): SecretReader {
  const cache = new Map<string, { value: string; expires: number }>();
  return async (secretArn, { fresh = false } = {}) => {
    const cached = cache.get(secretArn);
    if (!fresh && cached && cached.expires > clock.now()) return cached.value;
    let value: string | undefined;
    try {
      value = (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
    } catch (error) {
      throw classifySecretsError(error, secretArn);
    }
    if (value === undefined) {
      throw new SecretInvalid(
        `Secret ${secretArn} has no SecretString (binary secrets are not supported). Store the credentials as JSON.`,
        {
          secretArn,
          problem: 'binary',
        },
      );
    }
    cache.set(secretArn, { value, expires: clock.now() + ttlMs });
    return value;
  };
}

const UNREACHABLE = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'NetworkingError',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'InternalServiceError',
  'ThrottlingException',
]);

function classifySecretsError(error: unknown, secretArn: string): Error {
  const { name, code } = error as { name?: string; code?: string };
  if (UNREACHABLE.has(name ?? '') || UNREACHABLE.has(code ?? '')) {
    return new SecretsUnreachable(
      `Could not reach Secrets Manager to read ${secretArn} (${code ?? name}). No route to Secrets Manager from the VPC: ` +
        'add the Secrets Manager interface endpoint (template parameter CreateSecretsManagerEndpoint) or a NAT gateway.',
      { secretArn, ...(code || name ? { code: code ?? name } : {}) },
      { cause: error },
    );
  }
  const advice: Record<string, string> = {
    ResourceNotFoundException: 'no secret has that ARN: check the DatabaseSecretArn parameter',
    AccessDeniedException: "the function's role may not read it (or decrypt it with its KMS key)",
    DecryptionFailure: 'its KMS key cannot decrypt it: check the key policy',
    InvalidRequestException: 'it is scheduled for deletion or otherwise unusable',
  };
  return new SecretInvalid(
    `Cannot use secret ${secretArn}: ${advice[name ?? ''] ?? `${name}`}.`,
    { secretArn, problem: name ?? 'unknown' },
    {
      cause: error,
    },
  );
}

/**
 * Turns a secret into a database endpoint. Accepts the RDS JSON shape (`username`, `password`,
 * `host`, `port` as number or string, `dbname`), the RDS-managed master secret (only `username`
 * and `password`: the rest from `defaults`), and a `DATABASE_URL`, as JSON or plain text. Messages
 * name missing fields, never values.
 */
export function parseDatabaseSecret(
  secretString: string,
  { secretArn, defaults, tls }: { secretArn: string; defaults: EndpointDefaults; tls: TlsSettings },
): DatabaseEndpoint {
  const invalid = (problem: string, message: string) =>
    new SecretInvalid(`Secret ${secretArn} ${message} (its content is not shown).`, { secretArn, problem });
  const text = secretString.trim();
  if (/^postgres(ql)?:\/\//.test(text)) return endpointFromUrl(text, tls, invalid);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid('unparseable', 'is neither JSON nor a postgres:// URL');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid('not-an-object', 'is JSON but not an object with username and password');
  }
  const fields = json as Record<string, unknown>;
  const url = fields.DATABASE_URL ?? fields.url ?? fields.connectionString;
  if (typeof url === 'string') return endpointFromUrl(url, tls, invalid);

  const missing = ['username', 'password'].filter(
    (key) => typeof fields[key] !== 'string' || fields[key] === '',
  );
  if (missing.length > 0) throw invalid('missing-fields', `lacks ${missing.join(' and ')}`);
  const host = stringField(fields.host) ?? defaults.host;
  if (!host) {
    throw invalid(
      'missing-host',
      'holds no host (an RDS-managed master secret holds only username and password): set the DatabaseHost parameter',
    );
  }
  const port = fields.port ?? defaults.port ?? 5432;
  const portNumber = Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535)
    throw invalid('bad-port', 'has a port that is not a number from 1 to 65535');
  return {
    host,
    port: portNumber,
    database: stringField(fields.dbname) ?? stringField(fields.database) ?? defaults.database ?? 'postgres',
    username: fields.username as string,
    password: fields.password as string,
    tls,
  };
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function endpointFromUrl(
  text: string,
  tls: TlsSettings,
  invalid: (problem: string, message: string) => Error,
): DatabaseEndpoint {
  const url = parseConnectionUrl(text);
  if (!(url instanceof URL)) throw invalid('bad-url', `holds a DATABASE_URL that ${url.reason}`);
  const parts = urlParts(url);
  if (!parts.username || !parts.password || !url.hostname)
    throw invalid('incomplete-url', 'holds a DATABASE_URL without user, password or host');
  return {
    ...parts,
    database: parts.database || 'postgres',
    // The secret may ask for stronger TLS than the stack, never weaker: the stack's setting is the floor.
    tls: { ...tls, mode: tlsModeFor(url, tls.mode) },
  };
}
