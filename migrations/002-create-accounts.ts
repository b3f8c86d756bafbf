import type { Sql } from 'postgres';

/** Bank, cash and investment accounts, each owned by a user. */
export async function up(sql: Sql): Promise<void> {
  await sql`create type account_type as enum ('checking', 'savings', 'credit', 'investment', 'cash')`;
  await sql`
    create table accounts (
      id bigint generated always as identity primary key,
      user_id bigint not null references users (id) on delete cascade,
      name text not null,
      type account_type not null,
      currency text not null default 'BRL' check (currency ~ '^[A-Z]{3}$'),
      balance numeric(14, 2) not null default 0,
      created_at timestamptz not null default now()
    )`;
  await sql`create index accounts_user_id_idx on accounts (user_id)`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`drop table accounts`;
  await sql`drop type account_type`;
}
