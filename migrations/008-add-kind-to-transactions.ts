import type { Sql } from 'postgres';

/**
 * Whether a transaction is income, an expense or a transfer. Added nullable: a NOT NULL column
 * would need every existing row filled in the same locked step. 009 backfills it in batches.
 */
export async function up(sql: Sql): Promise<void> {
  await sql`create type transaction_kind as enum ('income', 'expense', 'transfer')`;
  await sql`alter table transactions add column kind transaction_kind`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`alter table transactions drop column kind`;
  await sql`drop type transaction_kind`;
}
