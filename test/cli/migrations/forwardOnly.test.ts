import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { snapshotSchema } from '../../../cli/migrations/schemaSnapshot.ts';
import { runCli } from '../../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { addMigrations, migrationsDir, sqlModule } from '../../support/migrationsDir.ts';

const table = (name: string) => sqlModule(`create table ${name} (id bigint)`, `drop table ${name}`);
/** A migration without a down, as Prisma and Drizzle write them all. */
const forwardOnly = (name: string) => sqlModule(`create table ${name} (id bigint)`);

describe('migrations without a down (forward-only), from the command line', () => {
  let db: TestDatabase;
  let cwd: string;
  const cli = (...args: string[]) => runCli(args, { env: { DATABASE_URL: db.url }, cwd });
  /** What a refusal must leave as it was: the schema and every history row. */
  const state = async () => ({
    schema: await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' }),
    history: await db.sql`select * from migration_pipeline_history order by id`,
  });

  beforeEach(async () => {
    db = await createTestDatabase();
    cwd = await migrationsDir({});
    await mkdir(join(cwd, 'migrations'));
    await addMigrations(join(cwd, 'migrations'), {
      '001-a.mjs': table('a'),
      '002-f.mjs': forwardOnly('f'),
      '003-c.mjs': table('c'),
    });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('migrate down refuses a selection holding one, naming it, and reverts nothing', async () => {
    await cli('migrate', 'up');
    const before = await state();

    const newestTwo = await cli('migrate', 'down', '--step', '2');
    const asJson = await cli('migrate', 'down', '--run', String(before.history[0]?.applied_by), '--json');

    expect(newestTwo.code).toBe(1);
    expect(newestTwo.stderr).toContain(
      'MigrationsIrreversible: 002-f.mjs has no down (forward-only), so nothing was reverted. ' +
        '"migrate down --to 002-f.mjs" reverts the migrations after it.',
    );
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout).error).toMatchObject({
      name: 'MigrationsIrreversible',
      context: {
        reverted: [],
        irreversible: ['002-f.mjs'],
        keptApplied: ['003-c.mjs', '002-f.mjs', '001-a.mjs'],
      },
    });
    expect(await state()).toEqual(before);

    // What the message suggests works: the one after it goes, it stays.
    expect((await cli('migrate', 'down', '--to', '002-f.mjs')).code).toBe(0);
    const names = await db.sql`select name from migration_pipeline_history order by id`;
    expect(names.map((row) => row.name)).toEqual(['001-a.mjs', '002-f.mjs']);
  });

  it('migrate verify skips the round trip of one with a note, goes on to the next, and passes', async () => {
    const human = await cli('migrate', 'verify');
    const json = await cli('migrate', 'verify', '--json');

    expect(human.code).toBe(0);
    expect(human.stdout).toContain(
      '002-f.mjs\n          note: no down (forward-only): round trip skipped; it stays applied under the next ones\n',
    );
    expect(human.stdout).toContain(
      '2 migration(s) round-trip (up, down, up); 1 forward-only, applied without a round trip.',
    );
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result.ok).toBe(true);
    expect(result.migrations).toEqual([
      { name: '001-a.mjs', differences: [], notes: [] },
      expect.objectContaining({ name: '002-f.mjs', differences: [], roundTripSkipped: 'forward-only' }),
      { name: '003-c.mjs', differences: [], notes: [] },
    ]);
  });

  it('check skips the round trip of one, saying why, checks the next, and passes', async () => {
    const human = await cli('check');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/002-f\.mjs.*\n {4}note: no down \(forward-only\): round trip skipped\n/);
    const { code, stdout } = await cli('check', '--json');

    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ ok: true, errors: 0 });
    expect(report.migrations.map((m: { name: string }) => m.name)).toEqual([
      '001-a.mjs',
      '002-f.mjs',
      '003-c.mjs',
    ]);
    expect(report.migrations[1].roundTripSkipped).toBe('forward-only');
    expect(report.migrations[0].roundTripSkipped).toBeUndefined();
    expect(report.migrations[2].roundTripSkipped).toBeUndefined();
  });
});
