import { createHash } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import { ReleaseQueued, ReleaseSuperseded, RollbackRefused } from '../errors.ts';
import { ensureSchema } from '../migrations/history.ts';
import { quoteTable, schemaOf, siblingTable } from '../migrations/settings.ts';

/**
 * The release queue: one row per release of this database, kept in the database itself so that the
 * deployed pipeline, the local run and the CLI see the same queue. At most one release holds the
 * turn (is between its connectivity check and its end); the others wait in the order their
 * executions started. A turn whose execution died is freed when the execution could no longer be
 * alive (`expires_at`); a waiting release that stopped asking is skipped after `STALE_WAITER_MS`.
 */

/** Where a release stands in the queue. */
export type TurnState =
  /** Asked for its turn; another release holds it or started earlier. */
  | 'waiting'
  /** Holds the turn: may migrate, deploy and roll back. */
  | 'active'
  | 'released'
  /**
   * Ended failed: rolled back and notified (its migrations without a down, and those before them, may
   * stay applied: a consistent schema the previous app runs on), or stopped before it changed anything.
   */
  | 'failed'
  /** Its rollback failed: the turn stays held, whatever the time, until a person frees it. */
  | 'rollback_failed'
  /** A later-started release was released first: this one never deploys its older image. */
  | 'superseded'
  /** Freed by hand (`queue free`). */
  | 'freed';

/** The outcomes the state machine reports when a release ends. */
export type ReleaseOutcome = 'released' | 'failed' | 'rollback_failed';

export interface QueueEntry {
  executionId: string;
  executionName: string;
  image: string;
  state: TurnState;
  startedAt: Date;
  expiresAt: Date;
  turnAt: Date | null;
  endedAt: Date | null;
}

export interface ReleaseIdentity {
  /** `$$.Execution.Id`: the key of the release, and the run id in the history table. */
  executionId: string;
  executionName: string;
  /** `$$.Execution.StartTime`: the order of the queue. */
  startedAt: Date;
  image: string;
}

/** A waiter that has not asked again for this long is gone (its retries ran out, or it was stopped). */
export const STALE_WAITER_MS = 5 * 60_000;

/** The queue table sits beside the history table: `<history>_releases`. */
export function queueTableFor(historyTable: string): string {
  return siblingTable(historyTable, '_releases');
}

const COLUMNS = `execution_id as "executionId", execution_name as "executionName", image, state,
  started_at as "startedAt", expires_at as "expiresAt", turn_at as "turnAt", ended_at as "endedAt"`;

/** Creates the queue table on first use (idempotent, safe under concurrent callers). */
async function ensureQueueTable(sql: Sql | TransactionSql, table: string): Promise<void> {
  await ensureSchema(sql, schemaOf(table));
  await sql.unsafe(`
    create table if not exists ${quoteTable(table)} (
      execution_id text primary key,
      execution_name text not null,
      image text not null,
      state text not null,
      started_at timestamptz not null,
      expires_at timestamptz not null,
      asked_at timestamptz not null default now(),
      turn_at timestamptz,
      ended_at timestamptz
    )`);
}

async function queueExists(sql: Sql, quotedTable: string): Promise<boolean> {
  const [row] = await sql<{ present: boolean }[]>`select to_regclass(${quotedTable}) is not null as present`;
  return row?.present === true;
}

/** Serialises every change to one queue: a transaction-level advisory lock, held for milliseconds. */
async function lockQueue(tx: TransactionSql, table: string): Promise<void> {
  const key = createHash('sha256').update(`migration-pipeline-queue:${table}`).digest().readBigInt64BE(0);
  await tx`select pg_advisory_xact_lock(${key.toString()}::bigint)`;
}

async function inQueueTransaction<T>(
  sql: Sql,
  table: string,
  body: (tx: TransactionSql) => Promise<T>,
): Promise<T> {
  // Creating the table takes a lock of its own: do it before, not under, the queue lock.
  if (!(await queueExists(sql, quoteTable(table)))) {
    await sql.begin(async (tx) => {
      await lockQueue(tx, table);
      await ensureQueueTable(tx, table);
    });
  }
  return (await sql.begin(async (tx) => {
    await lockQueue(tx, table);
    return body(tx);
  })) as T;
}

type TakeOutcome =
  | { kind: 'turn'; entry: QueueEntry }
  | { kind: 'ended'; entry: QueueEntry }
  | { kind: 'superseded'; by: QueueEntry }
  | { kind: 'wait'; holder: QueueEntry | undefined; ahead: QueueEntry[] };

function describeEntry(entry: QueueEntry): string {
  return `${entry.executionName} (${entry.image}, started ${entry.startedAt.toISOString()})`;
}

/**
 * Takes the release's turn, or says why it must wait. Idempotent: a release that holds the turn gets
 * it again. Fails `ReleaseQueued` (retried) while another release holds the turn or an earlier-started
 * one waits; `ReleaseSuperseded` when a later-started release was already released, so this one's
 * older image must not be deployed over it.
 */
export async function takeTurn(
  sql: Sql,
  table: string,
  release: ReleaseIdentity,
  { lifetimeMs }: { lifetimeMs: number },
): Promise<QueueEntry> {
  const outcome = await inQueueTransaction(sql, table, async (tx): Promise<TakeOutcome> => {
    const q = quoteTable(table);
    await tx.unsafe(
      `insert into ${q} (execution_id, execution_name, image, state, started_at, expires_at)
       values ($1, $2, $3, 'waiting', $4, $4::timestamptz + make_interval(secs => $5::float8))
       on conflict (execution_id) do update set asked_at = now()`,
      [
        release.executionId,
        release.executionName,
        release.image,
        release.startedAt.toISOString(),
        lifetimeMs / 1000,
      ],
    );
    const [own] = await tx.unsafe<QueueEntry[]>(`select ${COLUMNS} from ${q} where execution_id = $1`, [
      release.executionId,
    ]);
    const me = own as QueueEntry;
    if (me.state === 'active') return { kind: 'turn', entry: me };
    if (me.state !== 'waiting') return { kind: 'ended', entry: me };

    const [later] = await tx.unsafe<QueueEntry[]>(
      `select ${COLUMNS} from ${q}
       where state = 'released' and (started_at, execution_id) > ($1::timestamptz, $2)
       order by started_at desc limit 1`,
      [me.startedAt.toISOString(), me.executionId],
    );
    if (later) {
      await tx.unsafe(`update ${q} set state = 'superseded', ended_at = now() where execution_id = $1`, [
        me.executionId,
      ]);
      return { kind: 'superseded', by: later };
    }

    const [holder] = await tx.unsafe<QueueEntry[]>(
      `select ${COLUMNS} from ${q}
       where execution_id <> $1
         and (state = 'rollback_failed' or (state = 'active' and expires_at > now()))
       order by turn_at limit 1`,
      [me.executionId],
    );
    const ahead = await tx.unsafe<QueueEntry[]>(
      `select ${COLUMNS} from ${q}
       where state = 'waiting' and execution_id <> $1 and expires_at > now()
         and asked_at > now() - make_interval(secs => $3::float8)
         and (started_at, execution_id) < ($2::timestamptz, $1)
       order by started_at, execution_id`,
      [me.executionId, me.startedAt.toISOString(), STALE_WAITER_MS / 1000],
    );
    if (holder || ahead.length > 0) return { kind: 'wait', holder, ahead: [...ahead] };

    const [taken] = await tx.unsafe<QueueEntry[]>(
      `update ${q} set state = 'active', turn_at = now() where execution_id = $1 returning ${COLUMNS}`,
      [me.executionId],
    );
    return { kind: 'turn', entry: taken as QueueEntry };
  });

  if (outcome.kind === 'turn') return outcome.entry;
  if (outcome.kind === 'ended') {
    throw new ReleaseSuperseded(
      `Release ${outcome.entry.executionName} already ended (${outcome.entry.state}); it cannot take a turn again. Start a new release.`,
      { state: outcome.entry.state },
    );
  }
  if (outcome.kind === 'superseded') {
    throw new ReleaseSuperseded(
      `Release ${outcome.by.executionName}, started after this one, is already released with ${outcome.by.image}; ` +
        'this release stops without changing anything, so the older image is never deployed over the newer one. Nothing to do, or start a new release of a newer image.',
      { state: 'superseded', supersededBy: outcome.by.executionName },
    );
  }
  const { holder: waitFor, ahead } = outcome;
  const parts = [
    ...(waitFor
      ? [
          waitFor.state === 'rollback_failed'
            ? `release ${describeEntry(waitFor)}, whose rollback failed: a person must act on it, then free it (docs/operations.md, "The release queue")`
            : `release ${describeEntry(waitFor)}, which holds the turn until it ends or until ${waitFor.expiresAt.toISOString()}`,
        ]
      : []),
    ...(ahead.length > 0
      ? [
          `${ahead.length} earlier-started release(s) first: ${ahead.map((entry) => entry.executionName).join(', ')}`,
        ]
      : []),
  ];
  throw new ReleaseQueued(`Waiting for ${parts.join('; then ')}. Retried until its turn comes.`, {
    ...(waitFor ? { waitingFor: waitFor.executionName } : {}),
    ahead: ahead.map((entry) => entry.executionName),
  });
}

/**
 * Checks, before the release changes anything more, that it still holds the turn: no other release
 * took a turn after it (which happens only when its turn expired or was freed by hand).
 */
export async function assertTurn(sql: Sql, table: string, executionId: string): Promise<void> {
  const q = quoteTable(table);
  // No queue yet: no release ever took a turn, so none took it after this run (a CLI run is not queued).
  if (!(await queueExists(sql, q))) return;
  const [after] = await laterTurns(sql, q, executionId);
  if (after) {
    throw new ReleaseSuperseded(
      `Release ${after.executionName} took the turn after this release's turn expired or was freed; nothing more is applied or deployed by this release. Start it again if it is still wanted.`,
      { state: 'superseded', supersededBy: after.executionName },
    );
  }
}

/** Releases that took a turn after this one did (or at all, when this one never had a turn). */
async function laterTurns(sql: Sql | TransactionSql, q: string, executionId: string): Promise<QueueEntry[]> {
  return sql.unsafe<QueueEntry[]>(
    `select ${COLUMNS} from ${q} other
     where other.execution_id <> $1 and other.turn_at is not null
       and other.turn_at > coalesce((select turn_at from ${q} where execution_id = $1), '-infinity')
       and exists (select 1 from ${q} where execution_id = $1)
     order by other.turn_at limit 1`,
    [executionId],
  );
}

/**
 * Before a rollback reverts anything: refuses with `RollbackRefused` when a later release took its turn
 * after this one, since it deployed against these migrations (even one that applied none of its own).
 */
export async function assertRollbackSafe(sql: Sql, table: string, executionId: string): Promise<void> {
  const q = quoteTable(table);
  if (!(await queueExists(sql, q))) return;
  const [after] = await laterTurns(sql, q, executionId);
  if (after) {
    throw new RollbackRefused(
      `Not reverting this release's migrations: release ${describeEntry(after)} took its turn afterwards and ` +
        `${after.state === 'released' ? 'runs' : 'may run'} against them. The schema stays as it is; revert by hand only once no running image needs these migrations (docs/operations.md).`,
      { laterRelease: after.executionName },
    );
  }
}

/** Records how the release ended; the turn passes to the next in line (except after a failed rollback). */
export async function endTurn(
  sql: Sql,
  table: string,
  executionId: string,
  outcome: ReleaseOutcome,
): Promise<QueueEntry | undefined> {
  const q = quoteTable(table);
  if (!(await queueExists(sql, q))) return undefined;
  // A superseded release keeps its state; so does one freed by hand.
  const [row] = await sql.unsafe<QueueEntry[]>(
    `update ${q} set state = $2, ended_at = now()
     where execution_id = $1 and state in ('waiting', 'active', 'rollback_failed')
     returning ${COLUMNS}`,
    [executionId, outcome],
  );
  return row;
}

/** The queue as it stands: releases not ended, and the last ended ones, oldest first. */
export async function listQueue(sql: Sql, table: string, { limit = 20 } = {}): Promise<QueueEntry[]> {
  const q = quoteTable(table);
  if (!(await queueExists(sql, q))) return [];
  return sql.unsafe<QueueEntry[]>(
    `select * from (select ${COLUMNS} from ${q} order by started_at desc limit $1) recent order by "startedAt"`,
    [limit],
  );
}

/** Frees a turn by hand (the runbook's last resort for a release that cannot end by itself). */
export async function freeTurn(
  sql: Sql,
  table: string,
  executionIdOrName: string,
): Promise<QueueEntry | undefined> {
  const q = quoteTable(table);
  const [row] = await sql.unsafe<QueueEntry[]>(
    `update ${q} set state = 'freed', ended_at = now()
     where (execution_id = $1 or execution_name = $1) and state in ('waiting', 'active', 'rollback_failed')
     returning ${COLUMNS}`,
    [executionIdOrName],
  );
  return row;
}
