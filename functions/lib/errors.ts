/**
 * The named errors of the pipeline. A Lambda fails by throwing one of these; the state machine's
 * Retry and Catch match on `name`, so the names are a public API (see docs/architecture.md and functions/lib/contract/) and tests pin them.
 * Messages say what to do next and never contain a secret.
 */

export const ErrorName = {
  DatabaseUnreachable: 'DatabaseUnreachable',
  AuthenticationFailed: 'AuthenticationFailed',
  DatabaseNotFound: 'DatabaseNotFound',
  TlsError: 'TlsError',
  MigrationLockBusy: 'MigrationLockBusy',
  LockTimeout: 'LockTimeout',
  ServiceBusy: 'ServiceBusy',
  InvalidInput: 'InvalidInput',
  ConfigurationInvalid: 'ConfigurationInvalid',
  SecretsUnreachable: 'SecretsUnreachable',
  SecretInvalid: 'SecretInvalid',
  MigrationFailed: 'MigrationFailed',
  MigrationDrift: 'MigrationDrift',
  MigrationMissing: 'MigrationMissing',
  MigrationOutOfOrder: 'MigrationOutOfOrder',
  DeploymentFailed: 'DeploymentFailed',
  RollbackFailed: 'RollbackFailed',
  MigrationsIrreversible: 'MigrationsIrreversible',
  VerifyFailed: 'VerifyFailed',
  ReleaseQueued: 'ReleaseQueued',
  ReleaseSuperseded: 'ReleaseSuperseded',
  RollbackRefused: 'RollbackRefused',
  InternalError: 'InternalError',
  MigrationTimedOut: 'MigrationTimedOut',
  MigrationInvalid: 'MigrationInvalid',
  MigrationLockLost: 'MigrationLockLost',
  ImageNotFound: 'ImageNotFound',
  ImageInvalid: 'ImageInvalid',
  RegistryUnreachable: 'RegistryUnreachable',
  MigrationsNotFound: 'MigrationsNotFound',
  BundleInvalid: 'BundleInvalid',
  BundleStoreUnreachable: 'BundleStoreUnreachable',
} as const;

export type ErrorName = (typeof ErrorName)[keyof typeof ErrorName];

/** The names the state machine retries: waiting may fix them, nothing else will. */
export const RETRYABLE_ERROR_NAMES: readonly ErrorName[] = [
  ErrorName.DatabaseUnreachable,
  ErrorName.MigrationLockBusy,
  ErrorName.LockTimeout,
  ErrorName.ServiceBusy,
  ErrorName.SecretsUnreachable,
  ErrorName.ReleaseQueued,
  ErrorName.RegistryUnreachable,
  ErrorName.BundleStoreUnreachable,
];

/** Base of every named error. `name` is fixed per class; `context` carries typed details for logs and JSON. */
export abstract class PipelineError<Context extends object = Record<string, unknown>> extends Error {
  abstract override readonly name: ErrorName;
  readonly context: Context;

  constructor(message: string, context: Context, options?: { cause?: unknown }) {
    super(message, options);
    this.context = context;
  }

  toJSON(): { name: ErrorName; message: string; context: Context } {
    return { name: this.name, message: this.message, context: this.context };
  }
}

/** The fields of a PostgreSQL error worth keeping (porsager/postgres exposes them on its PostgresError). */
export interface PostgresErrorFields {
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
  table?: string;
  constraint?: string;
}

export class DatabaseUnreachable extends PipelineError<{ target: string; code?: string }> {
  override readonly name = ErrorName.DatabaseUnreachable;
}

export class AuthenticationFailed extends PipelineError<{ target: string; code?: string }> {
  override readonly name = ErrorName.AuthenticationFailed;
}

export class DatabaseNotFound extends PipelineError<{ target: string; code?: string }> {
  override readonly name = ErrorName.DatabaseNotFound;
}

export class TlsError extends PipelineError<{ target: string; code?: string }> {
  override readonly name = ErrorName.TlsError;
}

export class MigrationLockBusy extends PipelineError<{ waitedMs: number; holderPid?: number }> {
  override readonly name = ErrorName.MigrationLockBusy;
}

export class LockTimeout extends PipelineError<{
  migration: string;
  attempts: number;
  waitedMs: number;
  blockers: BlockingSession[];
}> {
  override readonly name = ErrorName.LockTimeout;
}

/** A session that held a transaction open while a migration waited for its lock. No query text: it may hold data. */
export interface BlockingSession {
  pid: number;
  state: string | null;
  applicationName: string | null;
  transactionSeconds: number;
  /** Where known: the table it holds (or awaits) a lock on that the migration's lock conflicts with. */
  relation?: string;
  mode?: string;
  granted?: boolean;
}

export class ServiceBusy extends PipelineError<{ service: string; operationId?: string }> {
  override readonly name = ErrorName.ServiceBusy;
}

export class SecretsUnreachable extends PipelineError<{ secretArn: string; code?: string }> {
  override readonly name = ErrorName.SecretsUnreachable;
}

export class SecretInvalid extends PipelineError<{ secretArn: string; problem: string }> {
  override readonly name = ErrorName.SecretInvalid;
}

export class DeploymentFailed extends PipelineError<{
  service: string;
  operationId?: string;
  status?: string;
  reason?: string;
}> {
  override readonly name = ErrorName.DeploymentFailed;
}

export class InvalidInput extends PipelineError<{ field: string }> {
  override readonly name = ErrorName.InvalidInput;
}

/** The function's environment (set by the template) is wrong: a deployment problem, not an input one. */
export class ConfigurationInvalid extends PipelineError<{ variable: string }> {
  override readonly name = ErrorName.ConfigurationInvalid;
}

export class MigrationFailed extends PipelineError<
  { migration: string; direction: 'up' | 'down'; invalidIndexes?: string[] } & PostgresErrorFields
> {
  override readonly name = ErrorName.MigrationFailed;
}

export class MigrationDrift extends PipelineError<{ migration: string; recorded: string; current: string }> {
  override readonly name = ErrorName.MigrationDrift;
}

export class MigrationMissing extends PipelineError<{ migrations: string[] }> {
  override readonly name = ErrorName.MigrationMissing;
}

export class MigrationOutOfOrder extends PipelineError<{ migration: string; newestApplied: string }> {
  override readonly name = ErrorName.MigrationOutOfOrder;
}

/**
 * A migration file that cannot run as written (it does not load, parse or fit the rules), found
 * while the whole plan is checked, before anything is applied. `line` is 1-based, when known.
 */
export class MigrationInvalid extends PipelineError<{ migration: string; line?: number; problem: string }> {
  override readonly name = ErrorName.MigrationInvalid;
}

/**
 * The run no longer holds its migration lock (a migration released it, e.g. with
 * `pg_advisory_unlock_all()`): another run could be migrating too, so nothing more is recorded.
 */
export class MigrationLockLost extends PipelineError<{ migration: string }> {
  override readonly name = ErrorName.MigrationLockLost;
}

/** The image reference names no image the registry has (or the credentials may not see it). */
export class ImageNotFound extends PipelineError<{ image: string; status?: number }> {
  override readonly name = ErrorName.ImageNotFound;
}

/** The registry answered with something that is not a readable image: a bad manifest, media type, digest or layer. */
export class ImageInvalid extends PipelineError<{ image: string; problem: string }> {
  override readonly name = ErrorName.ImageInvalid;
}

/** The registry could not be reached or refused the credentials' token for now: retried. */
export class RegistryUnreachable extends PipelineError<{ registry: string; status?: number; code?: string }> {
  override readonly name = ErrorName.RegistryUnreachable;
}

/** The image holds no migrations at the path it was read at: nothing is changed. */
export class MigrationsNotFound extends PipelineError<{ image: string; path: string }> {
  override readonly name = ErrorName.MigrationsNotFound;
}

/** A migrations bundle whose bytes do not match its content address (or that does not unpack). */
export class BundleInvalid extends PipelineError<{ key: string; problem: string }> {
  override readonly name = ErrorName.BundleInvalid;
}

/** The store holding the migrations bundles (the stack's S3 bucket) could not be reached: retried. */
export class BundleStoreUnreachable extends PipelineError<{ store: string; code?: string }> {
  override readonly name = ErrorName.BundleStoreUnreachable;
}

export class RollbackFailed extends PipelineError<
  { migration: string; reverted: string[]; remaining: string[] } & PostgresErrorFields
> {
  override readonly name = ErrorName.RollbackFailed;
}

/**
 * Migrations without a down (forward-only) stand in the way of a revert. `migrate down` refuses the
 * whole selection (`reverted` empty); a release's rollback reverts its migrations newer than the
 * newest forward-only one and keeps that one and the older ones applied (`keptApplied`).
 */
export class MigrationsIrreversible extends PipelineError<{
  reverted: string[];
  /** The selected migrations that have no down. */
  irreversible: string[];
  keptApplied: string[];
}> {
  override readonly name = ErrorName.MigrationsIrreversible;
}

export class VerifyFailed extends PipelineError<{ migration: string; differences: string[] }> {
  override readonly name = ErrorName.VerifyFailed;
}

/** Another release of this database holds the turn, or started earlier and waits: retried until its turn. */
export class ReleaseQueued extends PipelineError<{ waitingFor?: string; ahead: string[] }> {
  override readonly name = ErrorName.ReleaseQueued;
}

/** A later-started release went first (released, or took the turn after this one's expired): this one stops. */
export class ReleaseSuperseded extends PipelineError<{ state: string; supersededBy?: string }> {
  override readonly name = ErrorName.ReleaseSuperseded;
}

/** A later release took its turn after this one: reverting this release's migrations would pull the floor from under it. */
export class RollbackRefused extends PipelineError<{ laterRelease: string }> {
  override readonly name = ErrorName.RollbackRefused;
}

/**
 * The invocation's time ran out with a migration still running: its session was terminated (its
 * transaction rolled back, its locks and the migration lock released) before the function answered.
 */
export class MigrationTimedOut extends PipelineError<{ backendPid: number; secondsLeft: number }> {
  override readonly name = ErrorName.MigrationTimedOut;
}

/**
 * Anything thrown without a name of ours (a bug, a module that fails at import, an unforeseen
 * PostgreSQL error): named so that the state machine catches it, carrying the original name.
 */
export class InternalError extends PipelineError<{ originalName: string }> {
  override readonly name = ErrorName.InternalError;
}

/** Picks the documented fields off a PostgreSQL error, if it is one. */
export function postgresErrorFields(error: unknown): PostgresErrorFields {
  if (typeof error !== 'object' || error === null) return {};
  const e = error as Record<string, unknown>;
  const pick = (key: string) => (typeof e[key] === 'string' ? (e[key] as string) : undefined);
  const fields: PostgresErrorFields = {
    code: pick('code'),
    detail: pick('detail'),
    hint: pick('hint'),
    position: pick('position'),
    table: pick('table_name'),
    constraint: pick('constraint_name'),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** One line describing a PostgreSQL error: message, SQLSTATE, position, detail and hint. */
export function describePostgresError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const { code, position, detail, hint } = postgresErrorFields(error);
  const parts = [message];
  if (code) parts.push(`SQLSTATE ${code}`);
  if (position) parts.push(`at character ${position}`);
  let line = parts.join(', ');
  if (detail) line += `. Detail: ${detail}`;
  if (hint) line += `. Hint: ${hint}`;
  return line;
}
