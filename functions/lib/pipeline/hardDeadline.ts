import type { Sql } from 'postgres';
import { ConfigurationInvalid, MigrationTimedOut } from '../errors.ts';
import type { EngineSettings } from '../migrations/settings.ts';
import type { Clock, Log } from '../runtime.ts';

/** Time kept back before the invocation's end to terminate the session and answer. */
export const HARD_STOP_MS = 3_000;

/** How long the hard stop waits for the session's termination before it answers anyway. */
const TERMINATE_WAIT_MS = 2_000;

/** How long the migration session may sit idle inside a transaction: a frozen function never holds locks longer. */
const IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * The worst one migration can take (the deadline margin) must fit in the invocation, or `up` would
 * start nothing and answer done: false for ever. Checked on every call, before anything runs.
 */
export function assertSettingsFitInvocation(settings: EngineSettings, deadline: number, clock: Clock): void {
  const availableMs = deadline - clock.now() - HARD_STOP_MS;
  if (settings.deadlineMarginMs < availableMs) return;
  const s = (ms: number) => `${Math.round(ms / 1000)} s`;
  throw new ConfigurationInvalid(
    `The worst one migration can take (MIGRATION_STATEMENT_TIMEOUT ${s(settings.statementTimeoutMs)} + MIGRATION_LOCK_RETRY_BUDGET ${s(settings.lockRetryBudgetMs)} + 30 s, ` +
      `or MIGRATION_DEADLINE_MARGIN: ${s(settings.deadlineMarginMs)}) does not fit in the ${s(availableMs)} this invocation has. ` +
      'Lower the StatementTimeout or LockRetryBudget stack parameter (the function runs at most 15 min) and deploy again.',
    { variable: 'MIGRATION_STATEMENT_TIMEOUT' },
  );
}

/**
 * Bounds the migration session by the server's own clocks as well as ours: a transaction left idle
 * by a frozen function ends after a minute, and on PostgreSQL 17+ no transaction outlives the
 * invocation (`transaction_timeout`).
 */
export async function boundSession(sql: Sql, deadline: number, clock: Clock): Promise<void> {
  const [server] = await sql<
    { version: number }[]
  >`select current_setting('server_version_num')::int as version`;
  await sql.unsafe(`set idle_in_transaction_session_timeout = '${IDLE_IN_TRANSACTION_MS}ms'`);
  if ((server?.version ?? 0) >= 170_000) {
    const leftMs = Math.max(1_000, Math.round(deadline - clock.now() - HARD_STOP_MS));
    await sql.unsafe(`set transaction_timeout = '${leftMs}ms'`);
  }
}

/**
 * Runs `start()` on the migration session, but answers by `deadline - HARD_STOP_MS` whatever it does:
 * when the time comes, the session is terminated from a second connection (its transaction rolls
 * back and its locks, the migration lock among them, are released at once) and `MigrationTimedOut`
 * is thrown. Nothing of the migration carries on after the invocation answered.
 */
export async function withHardDeadline<T>(
  start: () => Promise<T>,
  {
    sql,
    deadline,
    openDatabase,
    clock,
    log,
  }: { sql: Sql; deadline: number; openDatabase: () => Promise<Sql>; clock: Clock; log: Log },
): Promise<T> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const backendPid = row?.pid ?? -1;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fired = false;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        fired = true;
        log.warn('The invocation is about to end: terminating the migration session', { backendPid });
        // Bounded: with the database unreachable, connecting would outlast the invocation.
        Promise.race([terminate(openDatabase, backendPid), clock.sleep(TERMINATE_WAIT_MS)])
          .catch(() => {})
          .then(() => sql.end({ timeout: 0 }))
          .finally(() =>
            reject(
              new MigrationTimedOut(
                `The function's time ran out during a migration; its session (pid ${backendPid}) was terminated, so its transaction rolled back and its locks were released. ` +
                  'A transactional migration left nothing behind; a transaction = false one may have applied some statements. Split the migration, or use inBatches for long backfills.',
                { backendPid, secondsLeft: Math.round(HARD_STOP_MS / 1000) },
              ),
            ),
          );
      },
      Math.max(0, deadline - clock.now() - HARD_STOP_MS),
    );
  });
  const work = start();
  // Once terminated, the work fails with a lost connection nobody awaits any more.
  work.catch(() => {});
  expired.catch(() => {});
  try {
    return await Promise.race([work, expired]);
  } catch (error) {
    // The terminated session fails the work first: answer with why it was terminated.
    if (fired) await expired;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function terminate(openDatabase: () => Promise<Sql>, backendPid: number): Promise<void> {
  const killer = await openDatabase();
  try {
    await killer`select pg_terminate_backend(${backendPid})`;
  } finally {
    await killer.end({ timeout: 1 });
  }
}
