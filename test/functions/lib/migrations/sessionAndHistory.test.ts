import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateUp, resolveSettings } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

const module = (body: string, extra = '') => `${extra}\nexport async function up(sql) {\n${body}\n}\n`;

describe('what a failing migration reports, and what one leaves for the next', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const history = async (table = 'migration_pipeline_history') =>
    (await db.sql.unsafe<{ name: string }[]>(`select name from ${table} order by id`)).map((row) => row.name);
  const exists = async (relation: string) =>
    (await db.sql<{ present: boolean }[]>`select to_regclass(${relation}) is not null as present`)[0]
      ?.present;

  it('does not claim nothing was applied when a failing module had committed part of itself', async () => {
    for (const [name, body] of [
      // Fails in autocommit, after its COMMIT.
      [
        '001-commits.mjs',
        "await sql.unsafe('create table t2 (x int)');\nawait sql.unsafe('commit');\nthrow new Error('later');",
      ],
      // Fails inside a transaction of its own, begun after its COMMIT: aborted, like the engine's would be.
      [
        '001-commits-and-begins.mjs',
        "await sql.unsafe('create table t2 (x int)');\nawait sql.unsafe('commit; begin');\nawait sql.unsafe('select 1/0');",
      ],
    ] as const) {
      await db.sql`drop table if exists t2`;
      const dir = await migrationsDir({ [name]: module(body) });
      const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
      expect(failure.name).toBe(ErrorName.MigrationFailed);
      expect(failure.message).toContain(`Migration ${name} (up) failed:`);
      expect(failure.message).toContain('part of it may have committed');
      expect(failure.message).not.toContain('Nothing of it was applied');
      expect(await exists('t2')).toBe(true);
      expect(await history()).toEqual([]);
    }
    // A failure inside the engine's own transaction still says what is true.
    const dir = await migrationsDir({
      '001-fails.mjs': module(
        "await sql.unsafe('create table t3 (x int)');\nawait sql.unsafe('select 1/0');",
      ),
    });
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.message).toContain('Nothing of it was applied: its transaction rolled back.');
    expect(await exists('t3')).toBe(false);
  });

  it('records a transaction:false migration that made the session read-only', async () => {
    const dir = await migrationsDir({
      '001-read-only.sql':
        '-- migrate:up transaction:false\ncreate table t2 (x int);\nset default_transaction_read_only = on;\n',
      '002-next.sql': '-- migrate:up\ncreate table t3 (x int);\n',
    });
    const result = await migrateUp({ database: db.url, migrationsDir: dir });
    expect(result.applied).toEqual(['001-read-only.sql', '002-next.sql']);
    expect(await history()).toEqual(['001-read-only.sql', '002-next.sql']);
  });

  it('does not carry a PREPAREd statement into the next migration, and keeps the driver’s own', async () => {
    const dir = await migrationsDir({
      '001-prepares.sql': '-- migrate:up\nprepare p1 as select 1;\ncreate table a (id int);\n',
      '002-prepares-too.sql':
        '-- migrate:up transaction:false\nprepare p1 as select 2;\ncreate table b (id int);\n',
      '003-again.sql': '-- migrate:up\nprepare p1 as select 3;\ncreate table c (id int);\n',
    });
    const result = await migrateUp({ database: db.url, migrationsDir: dir });
    expect(result.applied).toEqual(['001-prepares.sql', '002-prepares-too.sql', '003-again.sql']);
  });

  it('folds a history table name to lower case, as PostgreSQL folds an unquoted name', async () => {
    const dir = await migrationsDir({
      '001-a.sql': '-- migrate:up\ncreate table if not exists a (id int);\n',
    });
    await migrateUp({
      database: db.url,
      migrationsDir: dir,
      settings: resolveSettings({ historyTable: 'Migration_History' }),
    });
    expect(await history('migration_history')).toEqual(['001-a.sql']);
    const again = await migrateUp({
      database: db.url,
      migrationsDir: dir,
      settings: resolveSettings({ historyTable: 'migration_history' }),
    });
    expect(again.applied).toEqual([]);

    await migrateUp({
      database: db.url,
      migrationsDir: dir,
      settings: resolveSettings({ historyTable: 'PUBLIC.Hist' }),
    });
    expect(await db.sql`select nspname from pg_namespace where nspname = 'PUBLIC'`).toEqual([]);
    expect(await history('public.hist')).toEqual(['001-a.sql']);
  });

  it('refuses a history table whose id or applied_at has no default, changing nothing', async () => {
    await db.sql`
      create table migration_pipeline_history (
        id int primary key, name text not null unique, checksum text not null,
        applied_at timestamptz not null default now(), duration_ms int not null, applied_by text not null)`;
    const dir = await migrationsDir({ '001-a.sql': '-- migrate:up\ncreate table a (id int);\n' });
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.ConfigurationInvalid);
    expect(failure.message).toContain('id has no default');
    expect(await exists('a')).toBe(false);
  });
});
