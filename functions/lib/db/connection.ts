import postgres, { type Sql } from 'postgres';
import {
  AuthenticationFailed,
  DatabaseNotFound,
  DatabaseUnreachable,
  type PipelineError,
  TlsError,
} from '../errors.ts';
import { redactConnectionUrl, resolveUrlTarget } from './connectionUrl.ts';
import { postgresSslOption, requiresTls, serverOffersTls, type TlsMode, type TlsSettings } from './tls.ts';

export type { Sql };

/** A database as a secret describes it: the parts, so a password never has to be URL-encoded. */
export interface DatabaseEndpoint {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  tls: TlsSettings;
}

/** A connection URL (CLI, DATABASE_URL: TLS as `tlsModeFor` chooses it) or the parts (a Secrets Manager secret). */
export type ConnectionTarget = string | DatabaseEndpoint;

export interface ConnectionOptions {
  /** Seconds to wait for TCP and the startup handshake before `DatabaseUnreachable`. */
  connectTimeoutSeconds?: number;
  /** Shows in `pg_stat_activity.application_name`, so DBAs can tell who holds a lock. */
  applicationName?: string;
  /** The client's subnets and security groups, named when the database cannot be reached. */
  network?: string;
  /** Sees every statement as it is sent (the `postgres` client's debug hook): `check` captures them. */
  debug?: (connection: number, query: string, parameters: unknown[]) => void;
}

/**
 * The server and database a target points at, without the password, for messages and logs.
 * Never print a connection URL any other way.
 */
export function describeTarget(target: ConnectionTarget): string {
  if (typeof target !== 'string') {
    return `postgres://${target.username}@${target.host}:${target.port}/${target.database}`;
  }
  return redactConnectionUrl(target);
}

/**
 * Opens a single-connection client (migrations need one session: the advisory lock is per session)
 * and proves it answers, classifying connection failures into named errors.
 */
export async function connect(target: ConnectionTarget, options: ConnectionOptions = {}): Promise<Sql> {
  const { endpoint, clientUrl } =
    typeof target === 'string' ? resolveUrlTarget(target) : { endpoint: target, clientUrl: undefined };
  const settings = {
    max: 1,
    idle_timeout: 0,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'migration-pipeline' },
    ...(options.debug ? { debug: options.debug } : {}),
    // The parts as read here, not as the client would read the URL again; empty ones take its defaults.
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.database ? { database: endpoint.database } : {}),
    ...(endpoint.username ? { username: endpoint.username } : {}),
    ...(endpoint.password ? { password: endpoint.password } : {}),
    ssl: postgresSslOption(endpoint.tls, endpoint.host),
  };
  const sql = clientUrl ? postgres(clientUrl, settings) : postgres(settings);
  try {
    await sql`select 1`;
    return sql;
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    const timeoutMs = (options.connectTimeoutSeconds ?? 10) * 1000;
    const refusedTls = await tlsRefused(error, endpoint, timeoutMs);
    const classified = refusedTls
      ? tlsNotOffered(error, describeTarget(target), endpoint.tls.mode)
      : classifyConnectionError(error, describeTarget(target), options.network);
    throw classified ?? error;
  }
}

/** What a client that insists on TLS sees when the server answered N: the server closes on its TLS handshake. */
const TLS_REFUSAL_SYMPTOMS: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/** Whether the failure is a server without TLS refusing a mode that needs it: asked of the server, not guessed. */
async function tlsRefused(error: unknown, endpoint: DatabaseEndpoint, timeoutMs: number): Promise<boolean> {
  if (!requiresTls(endpoint.tls.mode) || !TLS_REFUSAL_SYMPTOMS.has(errorCode(error) ?? '')) return false;
  return (await serverOffersTls(endpoint.host, endpoint.port, timeoutMs)) === false;
}

function tlsNotOffered(error: unknown, target: string, mode: TlsMode): TlsError {
  return new TlsError(
    `${target} does not offer TLS, and TLS mode ${mode} needs it. Turn ssl on in the server (RDS always offers it: ` +
      "check that host and port are the database's), or, only on a network you trust, set DATABASE_TLS=disable " +
      'and leave sslmode out of the URL (deployed: the DatabaseTls parameter).',
    { target, code: 'TLS_NOT_OFFERED' },
    { cause: error },
  );
}

/** Codes meaning the server did not answer, or the connection went away. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting up or shutting down
]);

/** Whether an error says the connection went away (or never came): a lost session is asked nothing more. */
export function isConnectionLoss(error: unknown): boolean {
  return UNREACHABLE_CODES.has((error as { code?: unknown } | null)?.code as string);
}

/** Maps a connection failure to the named error that says what to check; undefined when it is not one. */
export function classifyConnectionError(
  error: unknown,
  target: string,
  network?: string,
): PipelineError | undefined {
  const code = errorCode(error);
  const text = error instanceof Error ? error.message : String(error);
  if (code && UNREACHABLE_CODES.has(code)) {
    return new DatabaseUnreachable(
      `Cannot reach ${target} (${code}). Check that the instance is running, that the host and port are right, ` +
        `and that its security group allows this client on the database port (${network ? `this function runs in ${network}` : 'from a Lambda: the function subnets and security group'}).`,
      { target, code },
      { cause: error },
    );
  }
  if (code === '28P01' || (code === '28000' && !/no encryption|SSL off/i.test(text))) {
    return new AuthenticationFailed(
      `${target} refused the credentials (${code}: ${text}). Check the user name and password in the secret or DATABASE_URL.`,
      { target, code },
      { cause: error },
    );
  }
  if (code === '3D000') {
    return new DatabaseNotFound(
      `${target}: the database does not exist (${text}). Check the database name in the secret or DATABASE_URL.`,
      { target, code },
      { cause: error },
    );
  }
  // A server's SQLSTATE (five characters) is never a TLS failure, except 28000 about encryption;
  // only the client's own codes (ERR_TLS_*, CERT_*, ...) and messages can be.
  const sqlState = code !== undefined && /^[0-9A-Z]{5}$/.test(code);
  if (
    code === '28000' ||
    (!sqlState && /SSL|TLS|certificate|CERT_|self.signed/i.test(`${code ?? ''} ${text}`))
  ) {
    return new TlsError(
      `TLS to ${target} failed (${code ?? 'no code'}: ${text}). ${tlsAdvice(code)}`,
      { target, ...(code ? { code } : {}) },
      { cause: error },
    );
  }
  return undefined;
}

/** Node's codes for a certificate that no trusted CA signed. */
const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** What to change for each kind of TLS failure; "deployed" names the stack's way to change it. */
function tlsAdvice(code: string | undefined): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return (
      "The server's certificate does not name this host: connect by a name it holds (for RDS, the instance or " +
      'cluster endpoint, not an IP address or an alias), or set DATABASE_TLS=verify-ca to check only who signed it.'
    );
  }
  if (code && UNTRUSTED_CERTIFICATE.has(code)) {
    return (
      "No trusted CA signed the server's certificate: set DATABASE_CA_BUNDLE to the PEM file of the CA that did " +
      '(for RDS, global-bundle.pem; deployed: certs/rds-global-bundle.pem in the build), or, only on a network you ' +
      'trust, DATABASE_TLS=require to encrypt without checking the certificate.'
    );
  }
  if (code === '28000') {
    return 'The server accepts only encrypted connections: set DATABASE_TLS=require or stronger (deployed: the DatabaseTls parameter).';
  }
  return (
    'Check DATABASE_TLS and DATABASE_CA_BUNDLE (deployed: the DatabaseTls parameter and certs/rds-global-bundle.pem), ' +
    "and that the server's certificate is within its validity dates."
  );
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
