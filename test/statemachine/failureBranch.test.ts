import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OLD_IMAGE, REPOSITORY, SERVICE_ARN } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type FakeAppRunner, startFakeAppRunner } from '../support/fakeAppRunner.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';
import { type LoadedPipeline, loadPipeline, onLoopback, runExecution } from '../support/pipeline.ts';

const NEW_IMAGE = `${REPOSITORY}:v42`;
const input = { image: { uri: NEW_IMAGE }, source: 'ci' };

describe('the failure branch, on the real state machine and a loopback App Runner', () => {
  let db: TestDatabase;
  let appRunner: FakeAppRunner | undefined;

  const load = async (
    env: Record<string, string> = {},
    fake: Parameters<typeof startFakeAppRunner>[0] = {},
  ) => {
    appRunner = await startFakeAppRunner(fake);
    return loadPipeline({
      MIGRATIONS_DIR: await migrationsDir({
        '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
        '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
      }),
      ...onLoopback(db.url, appRunner.url),
      ...env,
    });
  };
  /** Wraps the migrate handler to see what the service ran when the rollback began. */
  const watchRollback = (pipeline: LoadedPipeline) => {
    const seen: string[] = [];
    const migrate = pipeline.handlers.migrate;
    const handlers = {
      ...pipeline.handlers,
      migrate: (event: unknown, context: Parameters<typeof migrate>[1]) => {
        if ((event as { action: string }).action === 'rollback') seen.push(appRunner?.image() ?? '');
        return migrate(event, context);
      },
    };
    return { handlers, seen };
  };
  const tables = async () =>
    (await db.sql`select to_regclass('a') is not null as a, to_regclass('b') is not null as b`)[0];

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await appRunner?.close();
    await db.drop();
  });

  it('puts the service back on its previous image, waits until it is stable, and only then reverts the migrations', async () => {
    // The deployment would succeed, but only after DEPLOY_TIMEOUT: the release gives up on it.
    const pipeline = await load(
      { DEPLOY_TIMEOUT: '400ms' },
      { deployMs: (image) => (image === NEW_IMAGE ? 1_200 : 200) },
    );
    const { handlers, seen } = watchRollback(pipeline);

    const { error, entered, output } = await runExecution(handlers, input, { retryMs: 150 });

    expect(error?.name).toBe('DeploymentFailed');
    expect(error?.message).toContain('did not finish within');
    expect(output).toBeUndefined();
    expect(appRunner?.history).toEqual([OLD_IMAGE, NEW_IMAGE, OLD_IMAGE]);
    expect(seen).toEqual([OLD_IMAGE]);
    const order = ['PollDeployment', 'RestoreService', 'PollRestore', 'RollbackMigrations', 'NotifyFailure'];
    expect(order.map((state) => entered.indexOf(state))).toEqual(
      [...order.map((state) => entered.indexOf(state))].sort((x, y) => x - y),
    );
    expect(await tables()).toEqual({ a: false, b: false });
    const notified = JSON.parse(pipeline.notifications[0]?.Message ?? '{}');
    expect(notified).toMatchObject({
      error: { Error: 'DeploymentFailed' },
      restore: { alreadyDeployed: false, image: OLD_IMAGE },
      rollback: { reverted: ['002-b.mjs', '001-a.mjs'] },
    });
  }, 60_000);

  it('refuses a misconfigured deploy target before any migration runs', async () => {
    const missing = SERVICE_ARN.replace(/[0-9a-f]{32}$/, '0'.repeat(32));
    const cases: [string, Record<string, string>, string][] = [
      ['a service that does not exist', { APP_RUNNER_SERVICE_ARN: missing }, 'does not exist'],
      [
        'an access role the function may not pass',
        { PASSABLE_ROLE_ARNS: 'arn:aws:iam::123456789012:role/some-other-role' },
        'may not pass',
      ],
    ];
    for (const [what, env, message] of cases) {
      const pipeline = await load(env);

      const { error, entered } = await runExecution(pipeline.handlers, input);

      expect(error?.name, what).toBe('ConfigurationInvalid');
      expect(error?.message, what).toContain(message);
      expect(entered, what).not.toContain('Migrate');
      expect(await tables(), what).toEqual({ a: false, b: false });
      expect(appRunner?.updates, what).toEqual([]);
      expect(
        pipeline.notifications.map((n) => n.Subject),
        what,
      ).toEqual(['migration-pipeline: release failed']);
      await appRunner?.close();
    }
  }, 60_000);

  it('stops a Migrate loop that never finishes after 50 rounds and rolls back', async () => {
    const pipeline = await load();
    const migrate = pipeline.handlers.migrate;
    let rounds = 0;
    const handlers = {
      ...pipeline.handlers,
      // A migrate step that applies one migration, then answers done: false for ever.
      migrate: async (event: unknown, context: Parameters<typeof migrate>[1]) => {
        const result = (await migrate(event, context)) as Record<string, unknown>;
        if ((event as { action: string }).action !== 'up') return result;
        rounds++;
        return { ...result, done: false };
      },
    };

    const { error, entered } = await runExecution(handlers, input);

    expect(error?.name).toBe('MigrationStalled');
    expect(rounds).toBe(51);
    expect(entered.filter((state) => state === 'WaitBeforeMigrating')).toHaveLength(50);
    expect(entered).toContain('RollbackMigrations');
    expect(await tables()).toEqual({ a: false, b: false });
  }, 60_000);
});
