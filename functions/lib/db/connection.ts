import postgres, { type Sql } from 'postgres';
import {
  AuthenticationFailed,
  DatabaseNotFound,
  DatabaseUnreachable,
  InvalidInput,
  type PipelineError,
  TlsError,
} from '../errors.ts';

export type { Sql };

export type TlsMode = 'disable' | 'require' | 'verify-full';

/** TLS to the database: on by default (`require`); `verify-full` checks the certificate against a CA bundle. */
export interface TlsSettings {
  mode: TlsMode;
  /** PEM bundle (e.g. AWS's RDS global bundle), required for `verify-full`. */
  ca?: string;
}

/** A database as a secret describes it: the parts, so a password never has to be URL-encoded. */
export interface DatabaseEndpoint {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  tls: TlsSettings;
}

/** A connection URL (CLI, DATABASE_URL) or the parts (a Secrets Manager secret). */
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
  try {
    const parsed = new URL(target);
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
    const port = parsed.port || '5432';
    return `postgres://${user}${parsed.hostname}:${port}${parsed.pathname}`;
  } catch {
    return 'an unparseable DATABASE_URL';
  }
}

/**
 * Opens a single-connection client (migrations need one session: the advisory lock is per session)
 * and proves it answers, classifying connection failures into named errors.
 */
export async function connect(target: ConnectionTarget, options: ConnectionOptions = {}): Promise<Sql> {
  const common = {
    max: 1,
    idle_timeout: 0,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'migration-pipeline' },
    ...(options.debug ? { debug: options.debug } : {}),
  };
  let sql: Sql;
  if (typeof target === 'string') {
    assertConnectionUrl(target);
    sql = postgres(target, common);
  } else {
    sql = postgres({
      ...common,
      host: target.host,
      port: target.port,
      database: target.database,
      username: target.username,
      password: target.password,
      ssl: tlsOption(target),
    });
  }
  try {
    await sql`select 1`;
    return sql;
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw classifyConnectionError(error, describeTarget(target), options.network) ?? error;
  }
}

function tlsOption({ host, tls }: DatabaseEndpoint) {
  if (tls.mode === 'disable') return false;
  if (tls.mode === 'require') return 'require' as const;
  return { ca: tls.ca, rejectUnauthorized: true, servername: host };
}

/** Refuses a malformed URL without echoing it: it may hold a password. */
function assertConnectionUrl(url: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new InvalidInput(
      'The database URL is not a valid postgres://user:password@host:port/database URL (its value is not shown: it may hold a password). ' +
        'Check DATABASE_URL; percent-encode special characters in the password.',
      { field: 'DATABASE_URL' },
    );
  }
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
      `TLS to ${target} failed (${code ?? 'no code'}: ${text}). Check sslmode and the CA bundle: ` +
        'RDS needs TLS when rds.force_ssl is on, and verify-full needs the RDS CA bundle.',
      { target, ...(code ? { code } : {}) },
      { cause: error },
    );
  }
  return undefined;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
