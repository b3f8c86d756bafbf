import type { Sql, TransactionSql } from 'postgres';
import { ConfigurationInvalid } from '../errors.ts';
import { quoteTable, schemaOf } from './settings.ts';

/** A row of the history table: what was applied, from which source, when, how fast, and by which run. */
export interface AppliedMigration {
  name: string;
  checksum: string;
  appliedAt: Date;
  durationMs: number;
  appliedBy: string;
}

/**
 * Creates a schema unless it exists. Checked first: `CREATE SCHEMA IF NOT EXISTS` needs the CREATE
 * privilege on the database even when the schema is there, which an app's role rarely has.
 */
export async function ensureSchema(sql: Sql | TransactionSql, schema: string): Promise<void> {
  const [row] = await sql<{ present: boolean }[]>`
    select exists (select 1 from pg_namespace where nspname = ${schema}) as present`;
  if (!row?.present) await sql.unsafe(`create schema if not exists "${schema}"`);
}

/** Creates the history table on first use. Call it under the migration lock: creation is not race-free. */
export async function ensureHistoryTable(sql: Sql, table: string): Promise<void> {
  await ensureSchema(sql, schemaOf(table));
  await sql.unsafe(`
    create table if not exists ${quoteTable(table)} (
      id bigserial primary key,
      name text not null unique,
      checksum text not null,
      applied_at timestamptz not null default now(),
      duration_ms integer not null,
      applied_by text not null
    )`);
}

/** The columns of our history table and the types each may have. */
const HISTORY_COLUMNS: Record<string, readonly string[]> = {
  id: ['bigint', 'integer'],
  name: ['text', 'character varying'],
  checksum: ['text', 'character varying'],
  applied_at: ['timestamp with time zone'],
  duration_ms: ['integer', 'bigint'],
  applied_by: ['text', 'character varying'],
};

/** The columns the engine's insert leaves out: the table must fill them (bigserial, now()). */
const DEFAULTED_COLUMNS = ['id', 'applied_at'];

/** The applied migrations in the order they were applied; none when the table does not exist yet. */
export async function readHistory(sql: Sql, table: string): Promise<AppliedMigration[]> {
  // Both questions at once (pipelined): the rows fail, and are not used, when the table is missing
  // or of another shape, which the columns then tell. (Hence a session, never a transaction: a
  // failed statement would abort it.)
  const [columns, rows] = await Promise.all([
    sql<HistoryColumn[]>`
      select a.attname as name, format_type(a.atttypid, null) as type,
             a.atthasdef or a.attidentity <> '' as "hasDefault"
      from pg_attribute a
      where a.attrelid = to_regclass(${quoteTable(table)}) and a.attnum > 0 and not a.attisdropped`,
    sql
      .unsafe<AppliedMigration[]>(
        `select name, checksum, applied_at as "appliedAt", duration_ms as "durationMs", applied_by as "appliedBy"
         from ${quoteTable(table)} order by id`,
      )
      .then(
        (applied) => ({ applied }),
        (error: unknown) => ({ error }),
      ),
  ]);
  if (columns.length === 0) return [];
  assertHistoryShape(table, columns);
  if ('error' in rows) throw rows.error;
  return rows.applied;
}

interface HistoryColumn {
  name: string;
  type: string;
  hasDefault: boolean;
}

/** A table of that name that another tool (or the app) made is never read or written as ours. */
function assertHistoryShape(table: string, columns: HistoryColumn[]): void {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const wrong = Object.entries(HISTORY_COLUMNS)
    .filter(([name, allowed]) => !allowed.includes(byName.get(name)?.type ?? ''))
    .map(([name, allowed]) =>
      byName.has(name) ? `${name} is ${byName.get(name)?.type}, not ${allowed[0]}` : `it lacks ${name}`,
    );
  for (const name of DEFAULTED_COLUMNS) {
    if (byName.get(name)?.hasDefault === false) wrong.push(`${name} has no default`);
  }
  if (wrong.length === 0) return;
  throw new ConfigurationInvalid(
    `The table ${table} exists but is not a migration-pipeline history table (${wrong.join('; ')}); ` +
      'another tool may own it. Set MIGRATION_HISTORY_TABLE (--history-table) to a name of its own.',
    { variable: 'MIGRATION_HISTORY_TABLE' },
  );
}

export async function recordApplied(
  sql: Sql | TransactionSql,
  table: string,
  row: Omit<AppliedMigration, 'appliedAt'>,
): Promise<void> {
  await sql.unsafe(
    `insert into ${quoteTable(table)} (name, checksum, duration_ms, applied_by) values ($1, $2, $3, $4)`,
    [row.name, row.checksum, Math.round(row.durationMs), row.appliedBy],
  );
}

export async function removeApplied(sql: Sql | TransactionSql, table: string, name: string): Promise<void> {
  await sql.unsafe(`delete from ${quoteTable(table)} where name = $1`, [name]);
}

/**
 * Writes a migration's history row (`up`: insert, `down`: delete) only if the transaction is still
 * the one the migration started in and the session still holds the run's lock, in one statement;
 * says which of the two failed, so the caller can name it (and roll back). The checks and the write
 * in one round trip: a migration that ended the transaction itself must not get its row
 * autocommitted.
 */
export async function recordGuarded(
  sql: Sql | TransactionSql,
  table: string,
  direction: 'up' | 'down',
  row: Omit<AppliedMigration, 'appliedAt'>,
  guard: { transactionId: string; holdsLock: string },
): Promise<{ sameTransaction: boolean; holdsLock: boolean }> {
  const [write, parameters] =
    direction === 'up'
      ? [
          `insert into ${quoteTable(table)} (name, checksum, duration_ms, applied_by)
           select $2, $3, $4, $5 from guard where same and held returning 1`,
          [row.checksum, Math.round(row.durationMs), row.appliedBy],
        ]
      : [
          `delete from ${quoteTable(table)} where name = $2 and (select same and held from guard) returning 1`,
          [],
        ];
  const [result] = await sql.unsafe<{ same: boolean; held: boolean }[]>(
    `with guard as (select txid_current()::text = $1 as same, ${guard.holdsLock} as held),
     written as (${write})
     select same, held from guard`,
    [guard.transactionId, row.name, ...parameters],
    // The same text for every migration of a run: parsed once per session, not once per migration.
    { prepare: true },
  );
  return { sameTransaction: result?.same === true, holdsLock: result?.held === true };
}
