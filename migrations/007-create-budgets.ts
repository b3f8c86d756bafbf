import type { Sql } from 'postgres';

/** A monthly spending limit per category. */
export async function up(sql: Sql): Promise<void> {
  await sql`
    create table budgets (
      id bigint generated always as identity primary key,
      user_id bigint not null references users (id) on delete cascade,
      category_id bigint not null references categories (id) on delete cascade,
      month date not null check (extract(day from month) = 1),
      amount numeric(14, 2) not null check (amount >= 0),
      constraint budgets_category_month_key unique (category_id, month)
    )`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`drop table budgets`;
}
