import type { Sql, TransactionSql } from 'postgres';
import { isConnectionLoss } from '../db/connection.ts';
import { type BlockingSession, LockTimeout } from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import { type LockTarget, lockTargetsOf } from './lockTargets.ts';
import {
  describeBlockers,
  findConflictingLocks,
  type LockWaitOptions,
  waitForFreeLocks,
} from './lockWait.ts';
import type { EngineSettings } from './settings.ts';

/** SQLSTATEs after which the whole transaction rolled back and a later attempt may succeed. */
const RETRYABLE_LOCK_ERRORS = new Set([
  '55P03', // lock_not_available: lock_timeout expired
  '40P01', // deadlock_detected
]);

function isLockError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    RETRYABLE_LOCK_ERRORS.has((error as { code?: string }).code ?? '')
  );
}

/**
 * The `lock_timeout` of attempt `attempt` (0-based): starts short, grows by half each time, never
 * above the cap. The cap bounds how long the app's queries can queue behind the migration.
 */
export function lockTimeoutFor(attempt: number, settings: EngineSettings): number {
  return Math.min(settings.lockTimeoutMaxMs, Math.round(settings.lockTimeoutInitialMs * 1.5 ** attempt));
}

/** Jittered pause between attempts, so that queued app queries drain and retries of several runs spread out. */
export function pauseAfter(lockTimeoutMs: number, random: () => number = Math.random): number {
  return Math.round(lockTimeoutMs * (0.5 + random()));
}

export interface LockRetryOptions {
  /** What is being attempted, for logs and the final error. */
  label: string;
  settings: EngineSettings;
  clock: Clock;
  log: Log;
  /**
   * The table locks the attempt will ask for, where its statements tell (a SQL migration's). More are
   * learned from the statement a lock timeout stopped. Before each attempt the engine waits, asking
   * for nothing, until no older transaction holds a conflicting lock on them.
   */
  targets?: readonly LockTarget[];
  /** Called after each lock timeout, e.g. to count retries in metrics. */
  onRetry?: (attempt: number, lockTimeoutMs: number) => void;
  /** Called when the engine starts waiting for sessions in the way, and again when they change. */
  onWait?: (blockers: BlockingSession[]) => void;
}

/**
 * Runs `attempt` in a fresh transaction with `lock_timeout` and `statement_timeout` set locally,
 * retrying on lock timeouts and deadlocks. Before each attempt, while a transaction older than the
 * attempt's lock_timeout holds or awaits a lock conflicting with the tables the attempt will lock,
 * it waits without asking (the app's queries never queue behind a request of ours that cannot be
 * granted), then asks under that short lock_timeout, the guard against a transaction that began
 * meanwhile. Tables it cannot tell from the statements are learned from the statement a lock
 * timeout stopped; until then, and for locks it cannot see, the escalating schedule applies
 * (GitLab's `with_lock_retries`). Each failed attempt rolled back completely. When the budget is
 * spent it fails `LockTimeout`, naming the sessions that were in the way.
 */
export async function inTransactionWithLockRetries<T>(
  sql: Sql,
  attempt: (tx: TransactionSql, transaction: TransactionStart) => Promise<T>,
  { label, settings, clock, log, onRetry, onWait, targets: given = [] }: LockRetryOptions,
): Promise<T> {
  const started = clock.now();
  const targets = [...given];
  for (let attemptNumber = 0; ; attemptNumber++) {
    const lockTimeoutMs = lockTimeoutFor(attemptNumber, settings);
    if (targets.length > 0) {
      const blockers = await waitForFreeLocksOrGiveUp(sql, targets, {
        label,
        olderThanMs: lockTimeoutMs,
        until: started + settings.lockRetryBudgetMs,
        clock,
        log,
        onWait,
      });
      if (blockers.length > 0) {
        throw lockTimeout(label, attemptNumber, clock.now() - started, settings, blockers, undefined);
      }
    }
    try {
      return (await sql.begin(async (tx) => {
        try {
          return await attempt(tx, await startAttempt(tx, lockTimeoutMs, settings.statementTimeoutMs));
        } catch (error) {
          // The `postgres` client answers an error inside begin() with a ROLLBACK; when the error is the
          // connection going away, that write hits a closed socket and throws outside any promise,
          // killing the process. The server has rolled the transaction back already, and begin()
          // rejects by itself when the connection closes, so this callback just never settles.
          if (isConnectionLoss(error)) await new Promise(() => {});
          throw error;
        }
      })) as T;
    } catch (error) {
      if (!isLockError(error)) throw error;
      learnTargets(targets, error);
      const waited = clock.now() - started;
      if (waited >= settings.lockRetryBudgetMs) {
        // A learned name the server refuses to resolve leaves the long transactions to name.
        const blockers =
          targets.length > 0
            ? await findConflictingLocks(sql, targets, 1000).catch(() => findLongTransactions(sql, 1))
            : await findLongTransactions(sql, 1);
        throw lockTimeout(label, attemptNumber + 1, waited, settings, blockers, error);
      }
      const pauseMs = pauseAfter(lockTimeoutMs);
      onRetry?.(attemptNumber + 1, lockTimeoutMs);
      log.warn(
        `${label}: lock not granted within ${lockTimeoutMs} ms; rolled back, retrying in ${pauseMs} ms`,
        {
          attempt: attemptNumber + 1,
          lockTimeoutMs,
          code: (error as { code?: string }).code,
        },
      );
      await clock.sleep(pauseMs);
    }
  }
}

/**
 * The wait, where the server can answer it. A name it refuses (a reference to another database,
 * more dotted parts than a table has) is not a reason to fail the migration: the engine forgets
 * what it thought it knew and falls back to its schedule. A lost connection is the run's to report.
 */
async function waitForFreeLocksOrGiveUp(
  sql: Sql,
  targets: LockTarget[],
  options: Omit<LockWaitOptions, 'targets'>,
): Promise<BlockingSession[]> {
  try {
    return await waitForFreeLocks(sql, { ...options, targets });
  } catch (error) {
    if (isConnectionLoss(error)) throw error;
    options.log.warn(
      `${options.label}: cannot watch the locks of its tables (${(error as Error).message}); using retries only`,
      {
        targets,
      },
    );
    targets.length = 0;
    return [];
  }
}

/** The tables of the statement a lock timeout stopped (`postgres` keeps its text on the error). */
function learnTargets(targets: LockTarget[], error: unknown): void {
  const query = (error as { query?: unknown }).query;
  if (typeof query !== 'string') return;
  for (const target of lockTargetsOf(query)) {
    if (!targets.some((known) => known.relation === target.relation && known.mode === target.mode)) {
      targets.push(target);
    }
  }
}

function lockTimeout(
  label: string,
  attempts: number,
  waitedMs: number,
  settings: EngineSettings,
  blockers: BlockingSession[],
  cause: unknown,
): LockTimeout {
  return new LockTimeout(
    `${label} could not get its locks in ${Math.round(waitedMs / 1000)} s (asked ${attempts} time(s), ` +
      `lock_timeout up to ${settings.lockTimeoutMaxMs} ms, and waited without asking while long transactions held them); ` +
      'nothing of it was applied. ' +
      (blockers.length > 0 ? `In the way: ${describeBlockers(blockers)}. ` : '') +
      'The pipeline retries later; end the blocking transactions or raise MIGRATION_LOCK_RETRY_BUDGET.',
    { migration: label, attempts, waitedMs, blockers },
    cause === undefined ? undefined : { cause },
  );
}

/** Who the attempt's transaction runs on: a reconnect would have lost the run's lock with its session. */
export interface TransactionStart {
  backendPid: number;
  transactionId: string;
}

/**
 * Sets both timeouts for the current transaction only, as plain `SET LOCAL` statements (what a
 * reviewer, and `check` through squawk, sees is what the migration runs under), and reads the
 * backend and the transaction id: one round trip.
 */
async function startAttempt(
  tx: TransactionSql,
  lockTimeoutMs: number,
  statementTimeoutMs: number,
): Promise<TransactionStart> {
  // Integers from validated settings: safe to inline (SET takes no parameters).
  const results = (await tx.unsafe(
    `set local lock_timeout = '${Math.round(lockTimeoutMs)}ms'; set local statement_timeout = '${Math.round(statementTimeoutMs)}ms'; ` +
      'select pg_backend_pid() as pid, txid_current()::text as id',
  )) as unknown as { pid: number; id: string }[][];
  const row = results.at(-1)?.[0];
  return { backendPid: row?.pid ?? -1, transactionId: row?.id ?? '' };
}

/** Other sessions whose transaction has been open at least `minSeconds`: they block DDL. No query text. */
export async function findLongTransactions(sql: Sql, minSeconds: number): Promise<BlockingSession[]> {
  return sql<BlockingSession[]>`
    select pid, state, nullif(application_name, '') as "applicationName",
           extract(epoch from now() - xact_start)::int as "transactionSeconds"
    from pg_stat_activity
    where xact_start is not null and pid <> pg_backend_pid()
      and datname = current_database()
      and now() - xact_start >= make_interval(secs => ${minSeconds})
    order by xact_start
    limit 5`;
}
