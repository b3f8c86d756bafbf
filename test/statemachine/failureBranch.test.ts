import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { queueTableFor } from '../../functions/lib/queue/releaseQueue.ts';
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

  describe('with migrations without a down (forward-only)', () => {
    const present = async (...names: string[]) =>
      Object.fromEntries(
        await Promise.all(
          names.map(async (name) => [
            name,
            (await db.sql`select to_regclass(${name}) is not null as present`)[0]?.present,
          ]),
        ),
      );
    const queue = () =>
      db.sql.unsafe(
        `select execution_name, state from ${queueTableFor('migration_pipeline_history')} order by started_at`,
      );
    const failingDeploy = async (migrations: Record<string, string>) =>
      load({ MIGRATIONS_DIR: await migrationsDir(migrations) }, { failingImages: [NEW_IMAGE] });
    const rollbackEnd = [
      'RollbackMigrations',
      'NotifyFailure',
      'TookTurn',
      'EndReleaseFailed',
      'ForwardOnlyKept',
      'MigrationsIrreversible',
    ];

    it('reverts the newer ones, keeps the forward-only one and those before it, notifies, and passes the turn on', async () => {
      const pipeline = await failingDeploy({
        '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
        '002-f.mjs': sqlModule('create table f (id int)'),
        '003-c.mjs': sqlModule('create table c (id int)', 'drop table c'),
      });

      const failed = await runExecution(pipeline.handlers, input, { executionName: 'release-a' });

      expect(failed.error?.name).toBe('MigrationsIrreversible');
      expect(failed.error?.message).toContain(
        'Reverted 003-c.mjs. 002-f.mjs has no down (forward-only), so it stays applied, and so does 001-a.mjs before it.',
      );
      expect(failed.error?.message).toContain('ship a fix forward');
      expect(failed.entered.slice(-rollbackEnd.length)).toEqual(rollbackEnd);
      expect(await present('a', 'f', 'c')).toEqual({ a: true, f: true, c: false });
      const history = await db.sql`select name, applied_by from migration_pipeline_history order by id`;
      expect(history.map((row) => [row.name, row.applied_by])).toEqual([
        ['001-a.mjs', failed.executionArn],
        ['002-f.mjs', failed.executionArn],
      ]);
      expect(pipeline.notifications.map((n) => n.Subject)).toEqual(['migration-pipeline: release failed']);
      expect(JSON.parse(pipeline.notifications[0]?.Message ?? '{}')).toMatchObject({
        error: { Error: 'DeploymentFailed' },
        rollbackError: {
          Error: 'MigrationsIrreversible',
          Cause: expect.stringContaining('so it stays applied, and so does 001-a.mjs before it'),
        },
      });
      expect(await queue()).toEqual([{ execution_name: 'release-a', state: 'failed' }]);

      // The next release takes the turn at once and applies what the rollback reverted.
      const next = await runExecution(
        pipeline.handlers,
        { ...input, image: { uri: `${REPOSITORY}:v43` } },
        { executionName: 'release-b' },
      );

      expect(next.error).toBeUndefined();
      expect(next.retried).not.toContain('CheckConnectivity');
      expect(await present('a', 'f', 'c')).toEqual({ a: true, f: true, c: true });
      expect(appRunner?.image()).toBe(`${REPOSITORY}:v43`);
      expect(await queue()).toEqual([
        { execution_name: 'release-a', state: 'failed' },
        { execution_name: 'release-b', state: 'released' },
      ]);
    }, 60_000);

    it('reverts nothing when every migration of the release is forward-only, and fails the same way', async () => {
      const pipeline = await failingDeploy({
        '001-f.mjs': sqlModule('create table f (id int)'),
        '002-g.mjs': sqlModule('create table g (id int)'),
      });

      const { error, entered } = await runExecution(pipeline.handlers, input, { executionName: 'release-a' });

      expect(error?.name).toBe('MigrationsIrreversible');
      expect(error?.message).toContain(
        'Reverted nothing. 002-g.mjs has no down (forward-only), so it stays applied, and so does 001-f.mjs before it.',
      );
      expect(entered.slice(-rollbackEnd.length)).toEqual(rollbackEnd);
      expect(entered).not.toContain('NotifyRollbackFailed');
      expect(await present('f', 'g')).toEqual({ f: true, g: true });
      expect(pipeline.notifications.map((n) => n.Subject)).toEqual(['migration-pipeline: release failed']);
      expect(await queue()).toEqual([{ execution_name: 'release-a', state: 'failed' }]);
    }, 60_000);
  });

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
