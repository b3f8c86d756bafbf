import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { type Log, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

const backfill = `
export const transaction = false;
export async function up(sql, { inBatches }) {
  await sql\`alter table items add column if not exists flagged boolean\`;
  await inBatches(async (tx, size) => {
    const rows = await tx\`update items set flagged = false where id in (
      select id from items where flagged is null order by id limit \${size}) returning id\`;
    await tx\`insert into batch_log (txid) values (txid_current())\`;
    return rows.count;
  }, { batchSize: 300 });
}
export async function down(sql) { await sql\`alter table items drop column flagged\`; }
`;

describe('backfilling in batches', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    await db.sql`create table items (id int primary key)`;
    await db.sql`create table batch_log (txid bigint)`;
    await db.sql`insert into items select generate_series(1, 1000)`;
  });
  afterEach(async () => {
    await db.drop();
  });

  it('updates every row in short transactions of batchSize rows, logging progress', async () => {
    const dir = await migrationsDir({ '001-backfill.mjs': backfill });
    const messages: string[] = [];
    const log: Log = { info: (m) => messages.push(m), warn: (m) => messages.push(m) };

    await migrateUp({ database: db.url, migrationsDir: dir, log });

    const [left] = await db.sql`select count(*)::int as n from items where flagged is null`;
    expect(left?.n).toBe(0);
    const [batches] = await db.sql`select count(distinct txid)::int as n from batch_log`;
    expect(batches?.n).toBe(5); // 300 + 300 + 300 + 100, then one that finds nothing (rolled in as its own tx)
    expect(messages).toContain('001-backfill.mjs: batch 4 changed 100 rows (1000 so far)');
  });

  it('refuses to batch inside a migration transaction', async () => {
    const dir = await migrationsDir({
      '001-backfill.mjs': backfill.replace('export const transaction = false;', ''),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.InvalidInput);
    expect(failure.message).toContain('export const transaction = false');
  });
});
