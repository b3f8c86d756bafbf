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

export interface ConnectionOptions {
  /** Seconds to wait for TCP and the startup handshake before `DatabaseUnreachable`. */
  connectTimeoutSeconds?: number;
  /** Shows in `pg_stat_activity.application_name`, so DBAs can tell who holds a lock. */
  applicationName?: string;
  /** Hook for the `postgres` client's query debug callback (used to capture statements). */
  debug?: (connection: number, query: string, parameters: unknown[]) => void;
}

/**
 * The server and database a URL points at, without the password, for messages and logs.
 * Never print a connection URL any other way.
 */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
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
export async function connect(url: string, options: ConnectionOptions = {}): Promise<Sql> {
  assertConnectionUrl(url);
  const sql = postgres(url, {
    max: 1,
    idle_timeout: 0,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'migration-pipeline' },
    ...(options.debug ? { debug: options.debug } : {}),
  });
  try {
    await sql`select 1`;
    return sql;
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw classifyConnectionError(error, describeTarget(url)) ?? error;
  }
}

/** Refuses a malformed URL without echoing it: it may hold a password. */
export function assertConnectionUrl(url: string): void {
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

const UNREACHABLE_CODES = new Set([
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
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now: the server is starting up or shutting down
]);

/** Maps a connection failure to the named error that says what to check; undefined when it is not one. */
export function classifyConnectionError(error: unknown, target: string): PipelineError | undefined {
  const code = errorCode(error);
  const text = error instanceof Error ? error.message : String(error);
  if (code && UNREACHABLE_CODES.has(code)) {
    return new DatabaseUnreachable(
      `Cannot reach ${target} (${code}). Check that the instance is running, that the host and port are right, ` +
        'and that its security group allows this client (from a Lambda: the function subnets and security group).',
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
  if (code === '28000' || /SSL|TLS|certificate|CERT_|self.signed/i.test(`${code ?? ''} ${text}`)) {
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
