import type { Sql } from 'postgres';
import type { BlockingSession } from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import { conflictingModes, type LockTarget } from './lockTargets.ts';

/** How often a migration waiting for its tables asks again whether they are free. */
export const LOCK_POLL_MS = 100;

/**
 * The sessions that hold, or have long queued for, a lock on one of `targets` that conflicts with
 * the mode the migration will ask for, in a transaction open at least `olderThanMs` (or waiting
 * that long). Younger ones are the app's own short queries: they end before a short lock_timeout
 * would. Tables that do not exist yet are not in anyone's way; an index stands for its table.
 */
export async function findConflictingLocks(
  sql: Sql,
  targets: readonly LockTarget[],
  olderThanMs: number,
): Promise<BlockingSession[]> {
  if (targets.length === 0) return [];
  return sql<BlockingSession[]>`
    with target as (
      select coalesce(i.indrelid, c.oid) as oid, string_to_array(t.conflicts, ',') as conflicts
      from unnest(${targets.map((target) => target.relation)}::text[],
                  ${targets.map((target) => conflictingModes(target.mode).join(','))}::text[]) as t(relation, conflicts)
      join pg_class c on c.oid = to_regclass(t.relation)
      left join pg_index i on i.indexrelid = c.oid
    )
    select distinct on (l.pid) l.pid, a.state, nullif(a.application_name, '') as "applicationName",
           floor(extract(epoch from clock_timestamp() - coalesce(a.xact_start, a.query_start)))::int as "transactionSeconds",
           t.oid::regclass::text as relation, l.mode, l.granted
    from target t
    join pg_locks l on l.locktype = 'relation' and l.relation = t.oid
      and l.database = (select oid from pg_database where datname = current_database())
    join pg_stat_activity a on a.pid = l.pid
    where l.pid <> pg_backend_pid() and l.mode = any(t.conflicts)
      and clock_timestamp() - (case when l.granted then a.xact_start else a.query_start end)
          >= make_interval(secs => ${olderThanMs / 1000})
    order by l.pid, l.granted desc
    limit 5`;
}

export interface LockWaitOptions {
  label: string;
  /** What the migration will lock; nothing to wait for when empty. */
  targets: readonly LockTarget[];
  /** Holders whose transaction is younger than this (the next attempt's lock_timeout) are no reason to wait. */
  olderThanMs: number;
  /** Epoch ms: stop waiting then, whoever still holds the locks. */
  until: number;
  clock: Clock;
  log: Log;
  onWait?: (blockers: BlockingSession[]) => void;
}

/**
 * Waits, without asking for any lock (so that nobody queues behind this session), until no
 * session in a transaction older than `olderThanMs` holds or awaits a conflicting lock on the
 * targets, or until the sessions it first waited for are all gone even if others took their place.
 * Returns the sessions still in the way when `until` came, or [] (the caller then asks, under a
 * short lock_timeout, the guard against one that just began).
 * Each new set of blockers is logged once, naming pid, application, transaction age, mode, table.
 */
export async function waitForFreeLocks(
  sql: Sql,
  { label, targets, olderThanMs, until, clock, log, onWait }: LockWaitOptions,
): Promise<BlockingSession[]> {
  let reported = '';
  let waitedFor: Set<number> | undefined;
  for (;;) {
    const blockers = await findConflictingLocks(sql, targets, olderThanMs);
    if (blockers.length === 0 || clock.now() >= until) return blockers;
    // The ones it waited for are gone and others stand in their place: the app's transactions
    // overlap. Asking then is the schedule's way (a timeout raises the bar for the next look).
    waitedFor ??= new Set(blockers.map((blocker) => blocker.pid));
    if (!blockers.some((blocker) => waitedFor?.has(blocker.pid))) return [];
    const key = blockers.map((blocker) => blocker.pid).join(',');
    if (key !== reported) {
      reported = key;
      onWait?.(blockers);
      log.warn(`${label}: waiting for ${describeBlockers(blockers)}; not asking for its locks meanwhile`, {
        blockers,
      });
    }
    await clock.sleep(Math.min(LOCK_POLL_MS, Math.max(0, until - clock.now())));
  }
}

/** "pid 812 (psql, idle in transaction, open 12 s, AccessShareLock on accounts)", for messages and logs. */
export function describeBlockers(blockers: readonly BlockingSession[]): string {
  return blockers
    .map((blocker) => {
      const details = [
        blocker.applicationName,
        blocker.state,
        `${blocker.granted === false ? 'waiting' : 'open'} ${blocker.transactionSeconds} s`,
        blocker.mode && blocker.relation ? `${blocker.mode} on ${blocker.relation}` : undefined,
      ].filter(Boolean);
      return `pid ${blocker.pid} (${details.join(', ')})`;
    })
    .join(', ');
}
