import type { Sql } from 'postgres';

/**
 * Adding a foreign key in one step scans the whole table while holding a lock that blocks writes.
 * NOT VALID adds it for new rows only, instantly; 011 validates the old rows under a weaker lock.
 */
export async function up(sql: Sql): Promise<void> {
  await sql`
    alter table transactions add constraint transactions_category_id_fkey
    foreign key (category_id) references categories (id) on delete set null not valid`;
}

export async function down(sql: Sql): Promise<void> {
  await sql`alter table transactions drop constraint transactions_category_id_fkey`;
}
