import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrationLockKey } from '../../functions/lib/migrations/advisoryLock.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const execute = promisify(execFile);

/** `npm start -- ...args`, as a person types it. */
async function npmStart(args: string[], env: Record<string, string>) {
  return execute('npm', ['start', '--silent', '--', ...args], {
    env: {
      ...process.env,
      APP_RUNNER_SERVICE_ARN: '',
      ECS_CLUSTER: '',
      ECS_SERVICE: '',
      GITHUB_ACTIONS: '',
      ...env,
    },
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
}

/**
 * Holds the migration lock, as another run would, until the first Migrate attempt has given up
 * waiting for it (its session came and went), so that the retry applies.
 */
async function holdMigrationLockThroughFirstAttempt(db: TestDatabase): Promise<() => Promise<void>> {
  const holder = postgres(db.url, { max: 1, onnotice: () => {} });
  await holder`select pg_advisory_lock(${migrationLockKey('migration_pipeline_history').toString()}::bigint)`;
  const released = (async () => {
    const waiters = new Set<number>();
    for (let poll = 0; poll < 600; poll++) {
      const sessions = await db.sql<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and application_name = 'migration-pipeline migrate up'`;
      for (const session of sessions) waiters.add(session.pid);
      if (waiters.size > 0 && sessions.length === 0) break;
      await sleep(20);
    }
    await holder.end();
  })();
  return () => released;
}

describe('the local run reports retried states as retried', () => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('counts the migrations a retried Migrate applied, in the lines, the summary and --json', async () => {
    const env = { DATABASE_URL: db.url, MIGRATION_LOCK_WAIT: '300ms' };

    const released = await holdMigrationLockThroughFirstAttempt(db);
    const text = await npmStart(['--dir', dir], env);
    await released();

    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/✓ Migrate +\S+ \S+ +\(\d+ retr(y|ies)\) +applied 1: 001-a\.mjs/);
    expect(text.stdout).not.toContain('✗ Migrate');
    expect(text.stdout).toMatch(/MIGRATION +RESULT\n +001-a\.mjs +applied/);
    expect(text.stdout).not.toContain('No migration was pending');

    await db.sql`drop table a`;
    await db.sql`delete from migration_pipeline_history`;
    const releasedAgain = await holdMigrationLockThroughFirstAttempt(db);
    const json = await npmStart(['--dir', dir, '--json'], env);
    await releasedAgain();

    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ status: 'SUCCEEDED', applied: ['001-a.mjs'] });
    expect(summary.failedState).toBeUndefined();
    expect(summary.states.find((state: { name: string }) => state.name === 'Migrate')).toMatchObject({
      status: 'succeeded',
      retries: expect.any(Number),
    });
  });

  it('a release that failed before Migrate says no migration was attempted, not that none was pending', async () => {
    const unreachable = new URL(db.url);
    unreachable.port = '1';

    const { code, stdout } = await npmStart(['--dir', dir], { DATABASE_URL: unreachable.toString() });

    expect(code).toBe(1);
    expect(stdout.match(/✗ CheckConnectivity/g)).toHaveLength(1);
    expect(stdout).toMatch(/✗ CheckConnectivity +\S+ \S+ +\(5 retries\) +DatabaseUnreachable/);
    expect(stdout).toContain('Release FAILED in CheckConnectivity: DatabaseUnreachable');
    expect(stdout).toContain(
      'No migration was attempted: the release stopped in CheckConnectivity, before Migrate.',
    );
    expect(stdout).not.toContain('No migration was pending');
  });
});
