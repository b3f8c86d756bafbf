import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyMigrations } from '../../cli/migrations/verify.ts';
import { migrateUp } from '../../functions/lib/migrations/index.ts';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/database.ts';

const migrationsDir = resolve('migrations');

describe("the project's own migrations", () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('all round-trip through verify', async () => {
    const result = await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir });

    expect(result.migrations.filter((m) => m.differences.length > 0)).toEqual([]);
    expect(result.migrations).toHaveLength(12);
    expect(result.ok).toBe(true);
  });

  it('backfill and validate existing rows when applied to a database holding data', async () => {
    await migrateUp({ database: db.url, migrationsDir, to: '008-add-kind-to-transactions' });
    await db.sql`insert into users (email, full_name, hashed_password) values ('ana@example.com', 'Ana', 'x')`;
    await db.sql`insert into accounts (user_id, name, type) select id, 'Main', 'checking' from users`;
    await db.sql`insert into categories (user_id, name) select id, 'Food' from users`;
    await db.sql`
      insert into transactions (account_id, category_id, amount, occurred_at)
      select a.id, c.id, case when g % 3 = 0 then 100 else -25 end, now() - g * interval '1 hour'
      from accounts a, categories c, generate_series(1, 12000) g`;

    const result = await migrateUp({ database: db.url, migrationsDir });

    expect(result.applied).toEqual([
      '009-backfill-transaction-kind.ts',
      '010-add-transactions-category-fk.ts',
      '011-validate-transactions-category-fk.ts',
      '012-create-monthly-summaries.sql',
    ]);
    const kinds = await db.sql`select kind, count(*)::int as n from transactions group by kind order by kind`;
    expect(kinds).toEqual([
      { kind: 'income', n: 4000 },
      { kind: 'expense', n: 8000 },
    ]);
    const [fk] =
      await db.sql`select convalidated from pg_constraint where conname = 'transactions_category_id_fkey'`;
    expect(fk?.convalidated).toBe(true);
  });
});
