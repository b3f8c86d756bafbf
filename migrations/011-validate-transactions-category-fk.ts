import type { Sql } from 'postgres';

/** VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: reads and writes go on while it scans. */
export async function up(sql: Sql): Promise<void> {
  await sql`alter table transactions validate constraint transactions_category_id_fkey`;
}

/** A validated constraint cannot be marked NOT VALID again; put back the state 010 left by recreating it. */
export async function down(sql: Sql): Promise<void> {
  await sql`alter table transactions drop constraint transactions_category_id_fkey`;
  await sql`
    alter table transactions add constraint transactions_category_id_fkey
    foreign key (category_id) references categories (id) on delete set null not valid`;
}
