import { readFile } from 'node:fs/promises';
import type { Sql, TransactionSql } from 'postgres';
import { classifyConnectionError, isConnectionLoss } from '../db/connection.ts';
import {
  type BlockingSession,
  DatabaseUnreachable,
  describePostgresError,
  MigrationFailed,
  PipelineError,
  postgresErrorFields,
} from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import { BatchesPaused, runInBatches } from './batches.ts';
import type { MigrationFile } from './files.ts';
import { recordApplied, recordGuarded, removeApplied } from './history.ts';
import { inTransactionWithLockRetries } from './lockRetry.ts';
import type { LockTarget } from './lockTargets.ts';
import {
  assertHoldsMigrationLock,
  assertNoOpenTransaction,
  captureSessionBaseline,
  endedTransaction,
  escapedTransaction,
  escapedTransactionFailure,
  holdsLockExpression,
  migrationLockLost,
  resetSession,
  restoreIdentity,
} from './session.ts';
import type { EngineSettings } from './settings.ts';
import type { MigrationContext, MigrationFunction } from './types.ts';

export type Direction = 'up' | 'down';

/** What applying one migration needs: the run's single session and its settings. */
export interface ApplyContext {
  sql: Sql;
  /** The backend that holds the migration lock; a reconnect would silently have lost it. */
  backendPid: number;
  /** The run's advisory lock, verified again before each history row. */
  lockKey: bigint;
  runId: string;
  settings: EngineSettings;
  clock: Clock;
  log: Log;
  onLockRetry?: (migration: string, attempt: number, lockTimeoutMs: number) => void;
  /** The sessions a migration waits for (it asks for no lock while they are in the way). */
  onLockWait?: (migration: string, blockers: BlockingSession[]) => void;
  /** Epoch ms after which `inBatches` starts no further batch (it pauses the migration instead). */
  stopBatchesAfter?: number;
  /** Wraps the handle a migration's up/down receives: `check` watches each statement through it. */
  instrument?: (handle: Sql | TransactionSql, file: MigrationFile) => Sql | TransactionSql;
}

/**
 * Applies one migration in one direction and records it in the history, returning how long its own
 * SQL took. A transactional migration and its history row commit together, with lock retries; a
 * `transaction = false` migration runs on the session, and if it fails any INVALID index it left is
 * named with the command that cleans it up.
 */
export async function applyMigration(
  context: ApplyContext,
  file: MigrationFile,
  direction: Direction,
  run: MigrationFunction,
  transactional: boolean,
  /** The table locks its statements will ask for, where they are known before it runs. */
  locks: readonly LockTarget[] = [],
): Promise<number> {
  const { sql, settings, clock, log } = context;
  // inBatches works on the handle the migration got: inside a transaction it refuses, since
  // batches there would be one long transaction.
  const contextFor = (handle: Sql | TransactionSql): MigrationContext => ({
    name: file.name,
    log,
    inBatches: (batch, options = {}) =>
      runInBatches(handle, batch, options, {
        label: file.name,
        settings,
        clock,
        log,
        stopAfter: context.stopBatchesAfter,
      }),
  });
  const record = (tx: Sql | TransactionSql, durationMs: number) =>
    direction === 'up'
      ? recordApplied(tx, settings.historyTable, {
          name: file.name,
          checksum: file.checksum,
          durationMs,
          appliedBy: context.runId,
        })
      : removeApplied(tx, settings.historyTable, file.name);

  if (transactional) {
    try {
      return await inTransactionWithLockRetries(
        sql,
        async (tx, { backendPid, transactionId }) => {
          if (backendPid !== context.backendPid) throw sessionLost();
          const started = clock.now();
          try {
            await run(context.instrument?.(tx, file) ?? tx, contextFor(tx));
          } catch (error) {
            // Not "nothing was applied", and no retry: what it committed before would run twice.
            // (A lost connection is asked nothing more: its transaction is gone with it.)
            if (!isConnectionLoss(error) && (await escapedTransaction(tx, transactionId))) {
              throw escapedTransactionFailure(error, file.name, direction);
            }
            throw error;
          }
          const durationMs = clock.now() - started;
          // Back to the session's own user before the row is written, then the row, written only if
          // the migration left the transaction and the lock as it found them: pipelined, one round trip.
          const [, written] = await Promise.all([
            restoreIdentity(tx),
            recordGuarded(
              tx,
              settings.historyTable,
              direction,
              { name: file.name, checksum: file.checksum, durationMs, appliedBy: context.runId },
              { transactionId, holdsLock: holdsLockExpression(context.lockKey) },
            ),
          ]);
          if (!written.sameTransaction) throw endedTransaction(file.name, direction);
          if (!written.holdsLock) {
            throw migrationLockLost(
              file.name,
              'Nothing of this migration was applied: its transaction rolled back.',
            );
          }
          return durationMs;
        },
        {
          label: file.name,
          settings,
          clock,
          log,
          targets: locks,
          onRetry: (attempt, ms) => context.onLockRetry?.(file.name, attempt, ms),
          onWait: (blockers) => context.onLockWait?.(file.name, blockers),
        },
      );
    } catch (error) {
      throw migrationError(
        error,
        file.name,
        direction,
        'Nothing of it was applied: its transaction rolled back.',
      );
    }
  }

  await assertSameSession(sql, context.backendPid);
  // The session as the run left it before this migration: restored before its history row, which a
  // `SET default_transaction_read_only` or `SET ROLE` of the migration must not block.
  const baseline = await captureSessionBaseline(sql);
  await dropOwnInvalidIndexes(sql, file, log);
  const invalidBefore = new Set(await invalidIndexes(sql));
  const started = clock.now();
  try {
    // Outside a transaction no lock-timeout retries: CREATE INDEX CONCURRENTLY waits for older
    // transactions by design and blocks no app query meanwhile; both waits are bounded by the
    // statement timeout. Plain SET statements, so that `check` (squawk) sees them.
    const timeout = Math.round(settings.statementTimeoutMs);
    await sql.unsafe(`set lock_timeout = '${timeout}ms'; set statement_timeout = '${timeout}ms'`);
    await run(context.instrument?.(sql, file) ?? sql, contextFor(sql));
  } catch (error) {
    if (error instanceof BatchesPaused) throw error;
    const leftInvalid = (await invalidIndexes(sql).catch(() => [])).filter(
      (name) => !invalidBefore.has(name),
    );
    const cleanup =
      leftInvalid.length > 0
        ? ` It left INVALID index(es) ${leftInvalid.join(', ')}: run ${leftInvalid.map((name) => `DROP INDEX CONCURRENTLY IF EXISTS ${name};`).join(' ')} then run the migration again.`
        : '';
    throw migrationError(
      error,
      file.name,
      direction,
      `It ran outside a transaction (transaction = false), so statements before the failing one stayed applied.${cleanup}`,
      leftInvalid,
    );
  } finally {
    await sql.unsafe('reset lock_timeout; reset statement_timeout').catch(() => {});
  }
  const durationMs = clock.now() - started;
  await assertNoOpenTransaction(sql, file.name, direction);
  await resetSession(sql, baseline);
  await assertHoldsMigrationLock(
    sql,
    context.lockKey,
    file.name,
    'It ran outside a transaction, so its statements stayed applied, but it is not recorded.',
  );
  await record(sql, durationMs);
  return durationMs;
}

/**
 * A CREATE INDEX CONCURRENTLY interrupted by a crash or a kill leaves an INVALID index, which the
 * migration's `IF NOT EXISTS` would then skip: the retry would record a broken index as applied.
 * Before a non-transactional migration runs, drop the INVALID indexes its own source names, unless
 * a session is still building them. (We hold the migration lock, so no other run of ours is.)
 */
async function dropOwnInvalidIndexes(sql: Sql, file: MigrationFile, log: Log): Promise<void> {
  const source = await readFile(file.path, 'utf8');
  const leftovers = await sql<{ name: string; relname: string }[]>`
    select format('%I.%I', n.nspname, c.relname) as name, c.relname
    from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
    where not i.indisvalid
      and not exists (select 1 from pg_stat_progress_create_index p where p.index_relid = i.indexrelid)`;
  for (const { name, relname } of leftovers) {
    if (!new RegExp(`\\b${relname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(source)) continue;
    log.warn(
      `${file.name}: dropping INVALID index ${name} left by an interrupted run, then building it again`,
    );
    await sql.unsafe(`drop index concurrently if exists ${name}`);
  }
}

/** Indexes PostgreSQL marks INVALID (a failed or interrupted CREATE INDEX CONCURRENTLY), schema-qualified. */
export async function invalidIndexes(sql: Sql | TransactionSql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select format('%I.%I', n.nspname, c.relname) as name
    from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
    where not i.indisvalid order by 1`;
  return rows.map((row) => row.name);
}

async function assertSameSession(sql: Sql | TransactionSql, backendPid: number): Promise<void> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  if (row?.pid !== backendPid) throw sessionLost();
}

function sessionLost(): DatabaseUnreachable {
  return new DatabaseUnreachable(
    'The connection to the database was lost and re-opened during the run, which released the migration lock. ' +
      'Nothing more was applied; run again (the pipeline retries this).',
    { target: 'the migration session' },
  );
}

function migrationError(
  error: unknown,
  name: string,
  direction: Direction,
  consequence: string,
  invalidIndexes: string[] = [],
): Error {
  if (error instanceof PipelineError) return error;
  const lost = classifyConnectionError(error, 'the database');
  if (lost) return lost;
  return new MigrationFailed(
    `Migration ${name} (${direction}) failed: ${describePostgresError(error)}. ${consequence}`,
    {
      migration: name,
      direction,
      ...postgresErrorFields(error),
      ...(invalidIndexes.length > 0 ? { invalidIndexes } : {}),
    },
    { cause: error },
  );
}
