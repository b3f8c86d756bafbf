import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrationLockKey } from '../../functions/lib/migrations/advisoryLock.ts';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { addMigrations, migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const table = (name: string) => sqlModule(`create table ${name} (id int)`, `drop table ${name}`);
const execute = promisify(execFile);

describe('migration-pipeline migrate (CLI)', () => {
  let db: TestDatabase;
  let dir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });

  beforeEach(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url };
    dir = await migrationsDir({});
    await mkdir(join(dir, 'migrations'));
    await addMigrations(join(dir, 'migrations'), {
      '001-a.mjs': table('a'),
      '002-b.mjs': table('b'),
      '003-c.mjs': table('c'),
    });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('status --json lists applied (when, how long, by which run) and pending', async () => {
    await cli('migrate', 'up', '--to', '001-a', '--run-id', 'ci-42');

    const { code, stdout } = await cli('migrate', 'status', '--json');

    expect(code).toBe(0);
    const status = JSON.parse(stdout);
    expect(status.applied).toEqual([
      {
        name: '001-a.mjs',
        checksum: expect.stringMatching(/^[0-9a-f]{64}$/),
        appliedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        durationMs: expect.any(Number),
        appliedBy: 'ci-42',
      },
    ]);
    expect(status.pending).toEqual([{ name: '002-b.mjs' }, { name: '003-c.mjs' }]);
  });

  it('up --json prints applied, pending and done', async () => {
    const { code, stdout } = await cli('migrate', 'up', '--step', '2', '--json');

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      applied: ['001-a.mjs', '002-b.mjs'],
      pending: ['003-c.mjs'],
      done: true,
    });
  });

  it('up prints each migration as it is applied, then a summary', async () => {
    const { code, stdout } = await cli('migrate', 'up', '--run-id', 'manual-1');

    expect(code).toBe(0);
    expect(stdout).toMatch(/↑ 001-a\.mjs \(\d+ ms\)\n {2}↑ 002-b\.mjs/);
    expect(stdout).toContain('Applied 3 migration(s) as run manual-1; now at 003-c.mjs. 0 pending.');
  });

  it('down reverts the newest, and down --to reverts back to a named migration', async () => {
    await cli('migrate', 'up');

    const newest = await cli('migrate', 'down', '--json');
    expect(JSON.parse(newest.stdout)).toEqual({ reverted: ['003-c.mjs'], version: '002-b.mjs' });

    const to = await cli('migrate', 'down', '--to', '001-a.mjs', '--json');
    expect(JSON.parse(to.stdout)).toEqual({ reverted: ['002-b.mjs'], version: '001-a.mjs' });
  });

  it('down --run reverts exactly what that run applied', async () => {
    await cli('migrate', 'up', '--to', '001-a', '--run-id', 'first');
    await cli('migrate', 'up', '--run-id', 'second');

    const { stdout } = await cli('migrate', 'down', '--run', 'second', '--json');

    expect(JSON.parse(stdout).reverted).toEqual(['003-c.mjs', '002-b.mjs']);
  });

  it('new scaffolds the next numbered migration (.mts: no package.json says "type": "module")', async () => {
    const { code, stdout } = await cli('migrate', 'new', 'add', 'vendors', 'table');

    expect(code).toBe(0);
    expect(stdout).toBe(`Created ${join('migrations', '004-add-vendors-table.mts')}\n`);
    expect(await readFile(join(dir, 'migrations', '004-add-vendors-table.mts'), 'utf8')).toContain(
      'export async function down',
    );
  });

  it('verify fails with exit status 1, listing what a down forgot', async () => {
    await addMigrations(join(dir, 'migrations'), {
      '004-index.mjs': sqlModule('create index a_id on a (id)', 'select 1'),
    });

    const { code, stdout, stderr } = await cli('migrate', 'verify');

    expect(code).toBe(1);
    expect(stdout).toContain('DIFFERS 004-index.mjs');
    expect(stdout).toContain('unexpected index public.a_id');
    expect(stderr).toContain('VerifyFailed: Migration 004-index.mjs does not round-trip');
  });

  it('--dir points at another migrations folder', async () => {
    const other = await migrationsDir({ '001-z.mjs': table('z') });

    const { stdout } = await cli(
      'migrate',
      'up',
      '--dir',
      other,
      '--json',
      '--history-table',
      'other_history',
    );

    expect(JSON.parse(stdout).applied).toEqual(['001-z.mjs']);
  });

  it('exits 1 with the error name and a JSON error document on a failure', async () => {
    await addMigrations(join(dir, 'migrations'), {
      '004-broken.mjs': sqlModule('select * from nowhere', 'select 1'),
    });

    const { code, stdout, stderr } = await cli('migrate', 'up', '--json');

    expect(code).toBe(1);
    expect(JSON.parse(stdout).error).toMatchObject({
      name: 'MigrationFailed',
      context: { migration: '004-broken.mjs' },
    });
    expect(stderr).toContain('MigrationFailed: Migration 004-broken.mjs (up) failed');
  });

  it('exits 2 on bad usage and touches nothing', async () => {
    const results = await Promise.all([
      cli('migrate', 'up', '--bogus'),
      cli('migrate', 'up', '--step', 'two'),
      cli('migrate', 'down', '--to', 'x', '--all'),
      cli('migrate', 'sideways'),
      cli('migrate', 'up', '--lock-timeout', 'soon'),
      cli('migrate', 'new'),
    ]);

    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(results[1]?.stderr).toContain('--step must be a whole number');
    const [exists] = await db.sql`select to_regclass('migration_pipeline_history') as t`;
    expect(exists?.t).toBeNull();
  });

  it('waits and retries, printing each wait, while another run holds the lock', async () => {
    const holder = postgres(db.url, { max: 1 });
    await holder`select pg_advisory_lock(${migrationLockKey('migration_pipeline_history').toString()}::bigint)`;
    setTimeout(() => void holder.end(), 2500);

    const { code, stderr } = await cli('migrate', 'up', '--lock-wait', '500ms', '--json');

    expect(code).toBe(0);
    expect(stderr).toContain(
      'Another run holds the migration lock; waiting 2 s before trying again (retry 1 of 5).',
    );
  });
});

describe('migration-pipeline as a program', () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'cli-embedded-'));
    // mkdtemp makes the folder 0700; the server runs as the postgres user (not root) and must enter it.
    await chmod(cwd, 0o755);
    await mkdir(join(cwd, 'migrations'));
    await addMigrations(join(cwd, 'migrations'), { '001-a.mjs': table('a') });
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('uses the embedded PostgreSQL without DATABASE_URL, keeping its data between runs', async () => {
    const bin = resolve('cli/bin.ts');
    const env = { ...process.env, DATABASE_URL: '' };
    const run = (...args: string[]) => execute(process.execPath, [bin, ...args], { cwd, env });

    const first = await run('migrate', 'up', '--json');
    const second = await run('migrate', 'up', '--json');

    expect(JSON.parse(first.stdout).applied).toEqual(['001-a.mjs']);
    expect(JSON.parse(second.stdout)).toEqual({ applied: [], pending: [], done: true });
    expect(first.stderr).toContain('the embedded PostgreSQL in .migration-pipeline/');
    expect(await readdir(join(cwd, '.migration-pipeline'))).toContain('pgdata');
  });

  it('exits 2 on bad usage as a real process', async () => {
    const failure = await execute(process.execPath, [resolve('cli/bin.ts'), 'migrate', 'up', '--bogus'], {
      cwd,
    }).catch((error) => error);
    expect(failure.code).toBe(2);
  });
});
