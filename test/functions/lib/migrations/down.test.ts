import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateDown, migrateStatus, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { addMigrations, migrationsDir, sqlModule } from '../../../support/migrationsDir.ts';

async function tables(db: TestDatabase): Promise<string[]> {
  const rows = await db.sql<{ name: string }[]>`
    select tablename as name from pg_tables where schemaname = 'public' and tablename <> 'migration_pipeline_history' order by 1`;
  return rows.map((row) => row.name);
}

const table = (name: string) => sqlModule(`create table ${name} (id int)`, `drop table ${name}`);

describe('migrate down', () => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir({ '001-a.mjs': table('a'), '002-b.mjs': table('b'), '003-c.mjs': table('c') });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('reverts only the newest migration by default', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir });

    const result = await migrateDown({ database: db.url, migrationsDir: dir });

    expect(result).toMatchObject({
      reverted: ['003-c.mjs'],
      fromVersion: '003-c.mjs',
      toVersion: '002-b.mjs',
    });
    expect(await tables(db)).toEqual(['a', 'b']);
  });

  it('reverts everything after --to and keeps --to applied', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir });

    const result = await migrateDown({ database: db.url, migrationsDir: dir, to: '001-a' });

    expect(result.reverted).toEqual(['003-c.mjs', '002-b.mjs']);
    expect(await tables(db)).toEqual(['a']);
  });

  it('refuses a --to that is not applied and changes nothing', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir, step: 1 });

    const failure = await migrateDown({ database: db.url, migrationsDir: dir, to: '003-c.mjs' }).catch(
      (e) => e,
    );

    expect(failure.name).toBe(ErrorName.InvalidInput);
    expect(await tables(db)).toEqual(['a']);
  });

  it('reverts --step migrations newest first', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir });

    const result = await migrateDown({ database: db.url, migrationsDir: dir, step: 2 });

    expect(result.reverted).toEqual(['003-c.mjs', '002-b.mjs']);
  });

  it('rolls back only what this execution applied', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'earlier-run', to: '001-a' });
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'this-run' });

    const result = await migrateDown({ database: db.url, migrationsDir: dir, revertRun: 'this-run' });

    expect(result.reverted).toEqual(['003-c.mjs', '002-b.mjs']);
    expect(await tables(db)).toEqual(['a']);
    const status = await migrateStatus({ database: db.url, migrationsDir: dir });
    expect(status.applied.map((row) => [row.name, row.appliedBy])).toEqual([['001-a.mjs', 'earlier-run']]);
  });

  it('reverts nothing for a run that applied nothing', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-1' });

    const result = await migrateDown({
      database: db.url,
      migrationsDir: dir,
      revertRun: 'run-that-applied-nothing',
    });

    expect(result.reverted).toEqual([]);
    expect(await tables(db)).toEqual(['a', 'b', 'c']);
  });

  it('refuses to revert a run that later runs built on', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-1', to: '002-b' });
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-2' });

    const failure = await migrateDown({ database: db.url, migrationsDir: dir, revertRun: 'run-1' }).catch(
      (e) => e,
    );

    expect(failure.name).toBe(ErrorName.RollbackFailed);
    expect(failure.message).toContain('003-c.mjs (applied by run-2)');
    expect(await tables(db)).toEqual(['a', 'b', 'c']);
  });

  it('fails MigrationsIrreversible naming a migration without down, before reverting anything', async () => {
    await addMigrations(dir, {
      '004-no-down.mjs': sqlModule('create table d (id int)'),
      '005-e.mjs': table('e'),
    });
    await migrateUp({ database: db.url, migrationsDir: dir, runId: 'run-1' });

    const failure = await migrateDown({ database: db.url, migrationsDir: dir, revertRun: 'run-1' }).catch(
      (e) => e,
    );

    expect(failure.name).toBe(ErrorName.MigrationsIrreversible);
    expect(failure.message).toContain('004-no-down.mjs has no down (forward-only), so nothing was reverted');
    expect(failure.message).toContain('"migrate down --to 004-no-down.mjs" reverts the migrations after it');
    expect(failure.context).toEqual({
      reverted: [],
      irreversible: ['004-no-down.mjs'],
      keptApplied: ['005-e.mjs', '004-no-down.mjs', '003-c.mjs', '002-b.mjs', '001-a.mjs'],
    });
    expect(await tables(db)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('fails RollbackFailed when a down fails, keeping that migration applied', async () => {
    await addMigrations(dir, { '004-bad-down.mjs': sqlModule('create table d (id int)', 'drop table nope') });
    await migrateUp({ database: db.url, migrationsDir: dir });

    const failure = await migrateDown({ database: db.url, migrationsDir: dir, step: 2 }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.RollbackFailed);
    expect(failure.message).toContain('table "nope" does not exist');
    expect(await tables(db)).toEqual(['a', 'b', 'c', 'd']);
  });
});
