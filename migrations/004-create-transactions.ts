import type { Sql } from 'postgres';

/**
 * Money in and out of an account. The category link gets its foreign key later (010, 011), the
 * way a busy table must get one: NOT VALID first, validated apart.
 */
export async function up(sql: Sql): Promise<void> {
  await sql`
    create table transactions (
      id bigint generated always as identity primary key,
      account_id bigint not null references accounts (id) on delete cascade,
      category_id bigint,
      amount numeric(14, 2) not null,
      description text not null default '',
      occurred_at timestamptz not null,
      created_at timestamptz not null default now()
    )`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`drop table transactions`;
}
