import type { Sql } from 'postgres';

/**
 * Soft delete. Since PostgreSQL 11 a column with a constant default is added without rewriting
 * the table, so this holds its ACCESS EXCLUSIVE lock only for an instant (and the engine's short,
 * retried lock_timeout keeps the app from queueing behind it).
 */
export async function up(sql: Sql): Promise<void> {
  await sql`alter table transactions add column is_deleted boolean not null default false`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`alter table transactions drop column is_deleted`;
}
