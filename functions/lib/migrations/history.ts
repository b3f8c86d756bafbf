import type { Sql, TransactionSql } from 'postgres';
import { ConfigurationInvalid } from '../errors.ts';
import { quoteTable } from './settings.ts';

/** A row of the history table: what was applied, from which source, when, how fast, and by which run. */
export interface AppliedMigration {
  name: string;
  checksum: string;
  appliedAt: Date;
  durationMs: number;
  appliedBy: string;
}

/** Creates the history table on first use. Call it under the migration lock: creation is not race-free. */
export async function ensureHistoryTable(sql: Sql, table: string): Promise<void> {
  const schema = table.includes('.') ? table.split('.')[0] : undefined;
  if (schema) await sql.unsafe(`create schema if not exists "${schema}"`);
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

/** The applied migrations in the order they were applied; none when the table does not exist yet. */
export async function readHistory(sql: Sql | TransactionSql, table: string): Promise<AppliedMigration[]> {
  const [exists] = await sql<
    { present: boolean }[]
  >`select to_regclass(${quoteTable(table)}) is not null as present`;
  if (!exists?.present) return [];
  try {
    return await sql.unsafe<AppliedMigration[]>(
      `select name, checksum, applied_at as "appliedAt", duration_ms as "durationMs", applied_by as "appliedBy"
       from ${quoteTable(table)} order by id`,
    );
  } catch (error) {
    // 42703 undefined_column: a table of that name that another tool (or the app) made.
    if ((error as { code?: string }).code !== '42703') throw error;
    throw new ConfigurationInvalid(
      `The table ${table} exists but is not a migration-pipeline history table (it lacks ${(error as Error).message.match(/column "?([^" ]+)"?/)?.[1] ?? 'its columns'}); ` +
        'another tool may own it. Set MIGRATION_HISTORY_TABLE (--history-table) to a name of its own.',
      { variable: 'MIGRATION_HISTORY_TABLE' },
      { cause: error },
    );
  }
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
