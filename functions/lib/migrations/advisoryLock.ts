import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import { MigrationLockBusy } from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import { canonicalTable } from './settings.ts';

/**
 * The advisory lock key of a history table, from its canonical name: two apps sharing a database
 * with different history tables do not block each other; two runs of the same app do, however they
 * spell the table.
 */
export function migrationLockKey(historyTable: string): bigint {
  return createHash('sha256')
    .update(`migration-pipeline:${canonicalTable(historyTable)}`)
    .digest()
    .readBigInt64BE(0);
}

export interface LockHolder {
  pid: number;
  applicationName: string | null;
}

/**
 * Takes the session-level advisory lock for the whole run, polling for at most `waitMs`, then fails
 * `MigrationLockBusy` naming the session that holds it.
 */
export async function acquireMigrationLock(
  sql: Sql,
  key: bigint,
  { waitMs, clock, log }: { waitMs: number; clock: Clock; log: Log },
): Promise<void> {
  const started = clock.now();
  let reported = false;
  for (;;) {
    const [row] = await sql<
      { locked: boolean }[]
    >`select pg_try_advisory_lock(${key.toString()}::bigint) as locked`;
    if (row?.locked) return;
    const waited = clock.now() - started;
    const holder = await findLockHolder(sql, key);
    if (waited >= waitMs) {
      const who = holder
        ? ` by session ${holder.pid} (${holder.applicationName || 'no application_name'})`
        : '';
      throw new MigrationLockBusy(
        `Another migration run holds the migration lock${who}; waited ${Math.round(waited / 1000)} s. ` +
          'It is retried; if it persists, look for a stuck run with `migrate status`.',
        { waitedMs: waited, ...(holder ? { holderPid: holder.pid } : {}) },
      );
    }
    if (!reported) {
      log.info('Waiting for the migration lock held by another run', { holderPid: holder?.pid });
      reported = true;
    }
    await clock.sleep(Math.min(100 + Math.random() * 200, Math.max(0, waitMs - waited)));
  }
}

export async function releaseMigrationLock(sql: Sql, key: bigint): Promise<void> {
  await sql`select pg_advisory_unlock(${key.toString()}::bigint)`;
}

/** The session holding the migration lock, if any (pg_locks splits a bigint key into classid and objid). */
export async function findLockHolder(sql: Sql, key: bigint): Promise<LockHolder | undefined> {
  const [row] = await sql<LockHolder[]>`
    select l.pid, a.application_name as "applicationName"
    from pg_locks l left join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.objsubid = 1
      and l.classid::bigint = ((${key.toString()}::bigint >> 32) & 4294967295)
      and l.objid::bigint = (${key.toString()}::bigint & 4294967295)
      and l.database = (select oid from pg_database where datname = current_database())
    limit 1`;
  return row;
}
