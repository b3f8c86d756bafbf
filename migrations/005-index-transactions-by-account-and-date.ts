import type { Sql } from 'postgres';

/**
 * The statement page lists an account's transactions by date. On a table that is already big and
 * busy, a plain CREATE INDEX blocks writes for the whole build; CONCURRENTLY does not, but cannot
 * run inside a transaction, hence `transaction = false`. IF NOT EXISTS makes a re-run after an
 * interruption safe; an INVALID leftover is reported by the engine with its cleanup command.
 */
export const transaction = false;

export async function up(sql: Sql): Promise<void> {
  await sql`create index concurrently if not exists transactions_account_occurred_idx
            on transactions (account_id, occurred_at desc)`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`drop index concurrently if exists transactions_account_occurred_idx`;
}
