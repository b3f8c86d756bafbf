import type { Sql } from 'postgres';

/** Users of Better Call Buffet. Emails are unique regardless of case. */
export async function up(sql: Sql): Promise<void> {
  await sql`
    create table users (
      id bigint generated always as identity primary key,
      email text not null,
      full_name text not null,
      hashed_password text not null,
      is_active boolean not null default true,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`;
  await sql`create unique index users_email_lower_key on users (lower(email))`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`drop table users`;
}
