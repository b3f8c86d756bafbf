import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareSnapshots, snapshotSchema } from '../../cli/migrations/schemaSnapshot.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const execute = promisify(execFile);

/** `npm start -- ...args`, as a person types it, with DATABASE_URL pointing at a test database. */
async function npmStart(args: string[], databaseUrl: string) {
  return execute('npm', ['start', '--silent', '--', ...args], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      APP_RUNNER_SERVICE_ARN: '',
      ECS_CLUSTER: '',
      ECS_SERVICE: '',
      GITHUB_ACTIONS: '',
    },
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
}

describe('npm start (the local run)', () => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir({
      '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
      '002-b.mjs': sqlModule('create table b (id int); create index b_id on b (id)', 'drop table b'),
    });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('runs the real state machine: checks, migrates, and says the deploy is a dry run; a second run finds nothing pending', async () => {
    const first = await npmStart(['--dir', dir], db.url);

    expect(first.code).toBe(0);
    expect(first.stdout).toContain('deploy     dry run on App Runner (no APP_RUNNER_SERVICE_ARN configured)');
    expect(first.stdout).toMatch(/✓ CheckConnectivity .* 2 pending/);
    expect(first.stdout).toMatch(/✓ Migrate .* applied 2: 001-a\.mjs, 002-b\.mjs/);
    expect(first.stdout).toMatch(
      /✓ Deploy .* dry run: would deploy 000000000000\.dkr\.ecr\.us-east-1\.amazonaws\.com\/app:local/,
    );
    expect(first.stdout).toContain('Release succeeded');
    expect(first.stdout).toMatch(/MIGRATION +RESULT\n +001-a\.mjs +applied\n +002-b\.mjs +applied/);

    const second = await npmStart(['--dir', dir], db.url);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/✓ Migrate .* nothing pending/);
    expect(second.stdout).toContain('No migration was pending: the schema was already up to date.');
  });

  it('--fail-at Deploy ends rolled back, with the schema exactly as before, and exit status 1', async () => {
    await db.sql`create table existing (id int)`;
    const before = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });

    const { code, stdout } = await npmStart(['--dir', dir, '--fail-at', 'Deploy'], db.url);

    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ Deploy .* InjectedFailure/);
    expect(stdout).toMatch(/✓ RollbackMigrations .* reverted 2: 002-b\.mjs, 001-a\.mjs/);
    expect(stdout).toContain('Release FAILED in Deploy: InjectedFailure');
    expect(stdout).toMatch(/001-a\.mjs +applied, then reverted/);
    const after = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    expect(compareSnapshots(before, after).differences).toEqual([]);
  });

  it('--dry-run reports the plan and changes nothing; bad usage exits 2', async () => {
    const dry = await npmStart(['--dir', dir, '--dry-run', '--json'], db.url);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      status: 'SUCCEEDED',
      dryRun: true,
      pending: ['001-a.mjs', '002-b.mjs'],
      applied: [],
    });
    expect(await db.sql`select to_regclass('a') as a`).toEqual([{ a: null }]);

    const bad = await npmStart(['--fail-at', 'Nowhere'], db.url);
    expect(bad.code).toBe(2);
    const neverPolled = await npmStart(['--fail-at', 'PollDeployment'], db.url);
    expect(neverPolled.code).toBe(2);
  });

  it('--target ecs runs the ECS path, a dry run without a configured service', async () => {
    const { code, stdout } = await npmStart(['--dir', dir, '--target', 'ecs'], db.url);

    expect(code).toBe(0);
    expect(stdout).toContain('deploy     dry run on ECS (no ECS_CLUSTER and ECS_SERVICE configured)');
    expect(stdout).toMatch(/✓ Deploy .* dry run: would deploy/);
  });
});
