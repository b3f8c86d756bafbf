import type { Sql } from 'postgres';

/** Spending and income categories, nested one level (e.g. Food > Restaurants). */
export async function up(sql: Sql): Promise<void> {
  await sql`
    create table categories (
      id bigint generated always as identity primary key,
      user_id bigint not null references users (id) on delete cascade,
      parent_id bigint references categories (id) on delete set null,
      name text not null,
      created_at timestamptz not null default now(),
      constraint categories_user_name_key unique (user_id, name)
    )`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`drop table categories`;
}
