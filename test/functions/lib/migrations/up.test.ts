import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateStatus, migrateUp, resolveSettings } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir, sqlModule } from '../../../support/migrationsDir.ts';

const fiveTables = {
  '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
  '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
  '003-c.mjs': sqlModule('create table c (id int)', 'drop table c'),
  '004-d.mjs': sqlModule('create table d (id int)', 'drop table d'),
  '005-e.mjs': sqlModule('create table e (id int)', 'drop table e'),
};

async function tables(db: TestDatabase): Promise<string[]> {
  const rows = await db.sql<{ name: string }[]>`
    select tablename as name from pg_tables where schemaname = 'public' and tablename <> 'migration_pipeline_history' order by 1`;
  return rows.map((row) => row.name);
}

describe('migrate up', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('applies every pending migration in order and records each in the history', async () => {
    const dir = await migrationsDir(fiveTables);

    const result = await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-1' });

    expect(result).toMatchObject({
      runId: 'run-1',
      applied: Object.keys(fiveTables),
      pending: [],
      done: true,
      fromVersion: null,
      toVersion: '005-e.mjs',
    });
    expect(await tables(db)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const history =
      await db.sql`select name, checksum, duration_ms, applied_by from migration_pipeline_history order by id`;
    expect(history.map((row) => row.name)).toEqual(Object.keys(fiveTables));
    for (const row of history) {
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
      expect(row.applied_by).toBe('run-1');
    }
  });

  it('does nothing and reports done when nothing is pending', async () => {
    const dir = await migrationsDir(fiveTables);
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-1' });

    const again = await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-2' });

    expect(again).toMatchObject({
      applied: [],
      pending: [],
      done: true,
      fromVersion: '005-e.mjs',
      toVersion: '005-e.mjs',
    });
    const [count] =
      await db.sql`select count(*)::int as n from migration_pipeline_history where applied_by = 'run-2'`;
    expect(count?.n).toBe(0);
  });

  it('leaves exactly the two migrations before a failing third applied, naming it with the Postgres error', async () => {
    const dir = await migrationsDir({
      ...fiveTables,
      '003-c.mjs': sqlModule('create table c (id int); insert into missing_table values (1)', 'drop table c'),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);

    expect(failure.name).toBe(ErrorName.MigrationFailed);
    expect(failure.message).toContain('003-c.mjs');
    expect(failure.message).toContain('relation "missing_table" does not exist');
    expect(failure.context).toMatchObject({ migration: '003-c.mjs', direction: 'up', code: '42P01' });
    expect(failure.context.position).toMatch(/^\d+$/);
    expect(await tables(db)).toEqual(['a', 'b']);
    const status = await migrateStatus({ database: db.url, migrationsDir: dir });
    expect(status.applied.map((row) => row.name)).toEqual(['001-a.mjs', '002-b.mjs']);
    expect(status.pending.map((row) => row.name)).toEqual(['003-c.mjs', '004-d.mjs', '005-e.mjs']);
  });

  it('reports a SQL error that mentions certificates as MigrationFailed, not as a TLS failure', async () => {
    const dir = await migrationsDir({
      '001-a.mjs': sqlModule('select * from user_certificates', 'select 1'),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);

    expect(failure.name).toBe(ErrorName.MigrationFailed);
  });

  it('keeps its history in a table whose name has capitals', async () => {
    const dir = await migrationsDir(fiveTables);
    const settings = resolveSettings({ historyTable: 'Ops.MigrationHistory' });

    await migrateUp({ database: db.url, migrationsDir: dir, settings, step: 2 });
    const again = await migrateUp({ database: db.url, migrationsDir: dir, settings });

    expect(again.applied).toEqual(['003-c.mjs', '004-d.mjs', '005-e.mjs']);
  });

  it('applies up to and including --to, given with or without its extension', async () => {
    const dir = await migrationsDir(fiveTables);

    const first = await migrateUp({ database: db.url, migrationsDir: dir, to: '002-b' });
    const second = await migrateUp({ database: db.url, migrationsDir: dir, to: '004-d.mjs' });

    expect(first).toMatchObject({ applied: ['001-a.mjs', '002-b.mjs'], done: true });
    expect(second).toMatchObject({ applied: ['003-c.mjs', '004-d.mjs'], pending: ['005-e.mjs'], done: true });
  });

  it('applies only --step migrations', async () => {
    const dir = await migrationsDir(fiveTables);

    const result = await migrateUp({ database: db.url, migrationsDir: dir, step: 2 });

    expect(result.applied).toEqual(['001-a.mjs', '002-b.mjs']);
    expect(result.pending).toEqual(['003-c.mjs', '004-d.mjs', '005-e.mjs']);
  });

  it('refuses a --to that names no migration and changes nothing', async () => {
    const dir = await migrationsDir(fiveTables);

    const failure = await migrateUp({ database: db.url, migrationsDir: dir, to: '099-nope' }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.InvalidInput);
    expect(await tables(db)).toEqual([]);
  });

  it('starts no migration after the deadline minus the margin and reports done: false', async () => {
    const dir = await migrationsDir(fiveTables);
    let now = 1_000_000;
    const clock = {
      now: () => now,
      sleep: async () => {},
    };
    const settings = (await import('../../../../functions/lib/migrations/settings.ts')).resolveSettings({
      deadlineMarginMs: 1000,
    });
    // Each migration "takes" 400 ms of the fake clock, so with 2000 ms to the deadline and 1000 ms of
    // margin, the third migration would start too late.
    const result = await migrateUp({
      database: db.url,
      migrationsDir: dir,
      settings,
      clock,
      deadline: now + 2000,
      onMigrated: () => {
        now += 400;
      },
    });

    expect(result.applied).toEqual(['001-a.mjs', '002-b.mjs', '003-c.mjs']);
    expect(result.done).toBe(false);
    expect(result.pending).toEqual(['004-d.mjs', '005-e.mjs']);

    const rest = await migrateUp({ database: db.url, migrationsDir: dir });
    expect(rest).toMatchObject({ applied: ['004-d.mjs', '005-e.mjs'], done: true });
  });

  it('does not modify the migrations folder', async () => {
    const dir = await migrationsDir(fiveTables);
    await migrateUp({ database: db.url, migrationsDir: dir });
    expect((await readdir(dir)).sort()).toEqual(Object.keys(fiveTables));
  });
});
