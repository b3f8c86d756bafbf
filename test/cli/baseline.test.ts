import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { snapshotSchema } from '../../cli/migrations/schemaSnapshot.ts';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { addMigrations, migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const table = (name: string) => sqlModule(`create table ${name} (id int)`, `drop table ${name}`);

describe('migrate baseline: adopting a database another tool built', () => {
  let db: TestDatabase;
  let cwd: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, { env, cwd });
  const history = () =>
    db.sql<
      { name: string; applied_by: string }[]
    >`select name, applied_by from migration_pipeline_history order by id`;
  const state = async () => ({
    schema: await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' }),
    history: await db.sql`select * from migration_pipeline_history order by id`.catch(
      () => 'no history table',
    ),
  });

  beforeEach(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, DATABASE_TLS: 'disable' };
    cwd = await migrationsDir({});
    await mkdir(join(cwd, 'migrations'));
    await addMigrations(join(cwd, 'migrations'), {
      '001-a.mjs': table('a'),
      '002-b.mjs': table('b'),
      '003-c.mjs': table('c'),
    });
    // What the other tool built: the first two migrations' tables, and no history of ours.
    await db.sql`create table a (id int)`;
    await db.sql`create table b (id int)`;
  });
  afterEach(async () => {
    await db.drop();
  });

  it('records the migrations up to --to without running them; up then applies only what follows', async () => {
    const recorded = await cli('migrate', 'baseline', '--to', '002-b', '--yes', '--run-id', 'adopt-2026-11');
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(recorded.stdout).toContain(
      'Would record as applied, without running them (2):\n  001-a.mjs\n  002-b.mjs',
    );
    expect(recorded.stdout).toContain('Recorded 2 migration(s) as applied by run adopt-2026-11');
    expect(await history()).toEqual([
      { name: '001-a.mjs', applied_by: 'adopt-2026-11' },
      { name: '002-b.mjs', applied_by: 'adopt-2026-11' },
    ]);

    const up = await cli('migrate', 'up', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ applied: ['003-c.mjs'], pending: [] });
  });

  it('--dry-run lists and changes nothing; without --yes and no terminal it asks for --yes', async () => {
    const before = await state();

    const dry = await cli('migrate', 'baseline', '--to', '002-b.mjs', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ recorded: ['001-a.mjs', '002-b.mjs'], dryRun: true });

    const unconfirmed = await cli('migrate', 'baseline', '--to', '002-b');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('add --yes to go ahead');

    expect(await state()).toEqual(before);
  });

  it('refuses a database whose history has rows, an unknown --to, and a missing --to, changing nothing', async () => {
    const empty = await state();
    const unknown = await cli('migrate', 'baseline', '--to', '009-z', '--yes');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('--to 009-z: no such migration');
    const missing = await cli('migrate', 'baseline', '--yes');
    expect(missing.code).toBe(2);
    expect(await state()).toEqual(empty);

    expect((await cli('migrate', 'baseline', '--to', '001-a', '--yes')).code).toBe(0);
    const before = await state();
    const twice = await cli('migrate', 'baseline', '--to', '002-b', '--yes');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('a baseline is only for a database whose history is empty');
    expect(await state()).toEqual(before);
  });
});
