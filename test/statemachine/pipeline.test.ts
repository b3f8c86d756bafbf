import {
  AppRunnerClient,
  DescribeServiceCommand,
  ListOperationsCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-apprunner';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compareSnapshots, snapshotSchema } from '../../cli/migrations/schemaSnapshot.ts';
import { migrationLockKey } from '../../functions/lib/migrations/advisoryLock.ts';
import { DIGEST, describeService, operation, REPOSITORY, rdsSecretFor } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';
import { type LoadedPipeline, loadPipeline, runExecution } from '../support/pipeline.ts';

const secrets = mockClient(SecretsManagerClient);
const appRunner = mockClient(AppRunnerClient);

const fourMigrations = {
  '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
  '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
  '003-c.mjs': sqlModule('create table c (id int); create index c_id on c (id)', 'drop table c'),
  '004-d.mjs': sqlModule('alter table a add column note text', 'alter table a drop column note'),
};
const input = { image: { uri: `${REPOSITORY}@${DIGEST}`, tag: 'v42' }, source: 'ci' };

const run = (pipeline: LoadedPipeline, executionInput: unknown = input) =>
  runExecution(pipeline.handlers, executionInput);

describe('the pipeline state machine, run locally on the real handlers', () => {
  let db: TestDatabase;
  let dir: string;
  let pipeline: LoadedPipeline;

  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir(fourMigrations);
    secrets.reset();
    appRunner.reset();
    secrets.on(GetSecretValueCommand).resolves(rdsSecretFor(db.url));
    appRunner.on(DescribeServiceCommand).resolves(describeService());
    appRunner.on(UpdateServiceCommand).resolves({ ...describeService(), OperationId: 'op-7f3a' });
    appRunner
      .on(ListOperationsCommand)
      .resolvesOnce({ OperationSummaryList: [operation('op-7f3a', 'IN_PROGRESS')] })
      .resolves({ OperationSummaryList: [operation('op-7f3a', 'SUCCEEDED')] });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir });
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  const history = () => db.sql`select name, applied_by from migration_pipeline_history order by id`;

  it('checks, migrates, deploys the exact image by digest and polls until the deployment succeeds', async () => {
    const { output, error, executionArn, entered } = await run(pipeline);

    expect(error).toBeUndefined();
    expect(entered).toEqual([
      'ResolveImage',
      'CheckConnectivity',
      'IsDryRun',
      'PreflightDeploy',
      'StartMigrating',
      'Migrate',
      'MigrationsDone',
      'Deploy',
      'DeploymentStarted',
      'WaitForDeployment',
      'PollDeployment',
      'DeploymentFinished',
      'WaitForDeployment',
      'PollDeployment',
      'DeploymentFinished',
      'EndReleaseReleased',
      'Released',
    ]);
    expect(output).toMatchObject({
      source: 'ci',
      migrations: {
        applied: Object.keys(fourMigrations),
        appliedByRun: Object.keys(fourMigrations),
        done: true,
        toVersion: '004-d.mjs',
      },
      deployment: { operationId: 'op-7f3a', alreadyDeployed: false, image: `${REPOSITORY}@${DIGEST}` },
    });
    expect((await history()).map((row) => row.applied_by)).toEqual(Array(4).fill(executionArn));
    const update = appRunner.commandCalls(UpdateServiceCommand)[0]?.args[0].input;
    expect(update?.SourceConfiguration).toMatchObject({
      ImageRepository: {
        ImageIdentifier: `${REPOSITORY}@${DIGEST}`,
        ImageRepositoryType: 'ECR',
        ImageConfiguration: { Port: '8000' },
      },
      AutoDeploymentsEnabled: false,
    });
  });

  it('stops at CheckConnectivity when a pending file cannot run, naming file and line, with nothing applied', async () => {
    dir = await migrationsDir({
      ...fourMigrations,
      '005-e.sql': '-- migrate:up\ncreate table e (id int);\ncommit;\n',
    });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir });

    const { error, entered } = await run(pipeline);

    expect(error?.name).toBe('MigrationInvalid');
    expect(error?.message).toContain('005-e.sql:3: COMMIT');
    expect(entered).toEqual([
      'ResolveImage',
      'CheckConnectivity',
      'NotifyFailure',
      'TookTurn',
      'ReleaseFailed',
    ]);
    expect(
      await db.sql`select to_regclass('migration_pipeline_history') as t, to_regclass('a') as a`,
    ).toEqual([{ t: null, a: null }]);
    expect(pipeline.notifications[0]?.Subject).toBe('migration-pipeline: release failed');
  });

  it('releases an older image without touching the schema, saying how far the schema is ahead of it', async () => {
    await run(pipeline);
    const before = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    const olderImage = await migrationsDir({
      '001-a.mjs': fourMigrations['001-a.mjs'],
      '002-b.mjs': fourMigrations['002-b.mjs'],
    });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: olderImage });

    const { output, error } = await run(pipeline, { ...input, image: { uri: `${REPOSITORY}:v41` } });

    expect(error).toBeUndefined();
    expect(output).toMatchObject({ migrations: { applied: [], pending: [], done: true } });
    const after = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    expect(compareSnapshots(before, after).differences).toEqual([]);
    expect((await history()).map((row) => row.name)).toEqual(Object.keys(fourMigrations));
  });

  it('with nothing pending and the image already running, changes nothing and succeeds', async () => {
    await run(pipeline);
    appRunner.on(DescribeServiceCommand).resolves(describeService(`${REPOSITORY}@${DIGEST}`));
    appRunner.resetHistory();

    const { output, error, entered } = await run(pipeline);

    expect(error).toBeUndefined();
    expect(output).toMatchObject({
      migrations: { applied: [], appliedByRun: [], pending: [] },
      deployment: { alreadyDeployed: true },
    });
    expect(entered).not.toContain('PollDeployment');
    expect(appRunner.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('retries Migrate while another run holds the migration lock, then succeeds', async () => {
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir, MIGRATION_LOCK_WAIT: '100ms' });
    const holder = postgres(db.url, { max: 1 });
    await holder`select pg_advisory_lock(${migrationLockKey('migration_pipeline_history').toString()}::bigint)`;
    // The other run lets go of the lock once Migrate has found it busy: no race with the clock.
    const migrate = pipeline.handlers.migrate;
    const handlers = {
      ...pipeline.handlers,
      migrate: async (event: unknown, context: Parameters<typeof migrate>[1]) => {
        try {
          return await migrate(event, context);
        } catch (error) {
          if ((error as Error).name === 'MigrationLockBusy') await holder.end();
          throw error;
        }
      },
    };

    const { error, retried, output } = await runExecution(handlers, input);

    expect(error).toBeUndefined();
    expect(retried).toContain('Migrate');
    expect(output).toMatchObject({ migrations: { appliedByRun: Object.keys(fourMigrations) } });
  });

  it('when the 3rd of 4 migrations fails, rolls back to exactly the schema before the execution', async () => {
    await db.sql`create table existing (id int primary key, label text default 'x')`;
    dir = await migrationsDir({
      ...fourMigrations,
      '003-c.mjs': sqlModule('create table c (id int); select * from missing', 'drop table c'),
    });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir });
    const before = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });

    const { error, entered } = await run(pipeline);

    expect(error?.name).toBe('MigrationFailed');
    expect(error?.message).toContain('003-c.mjs');
    expect(entered.slice(-6)).toEqual([
      'RollbackMigrations',
      'NotifyFailure',
      'TookTurn',
      'EndReleaseFailed',
      'ForwardOnlyKept',
      'ReleaseFailed',
    ]);
    const after = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    expect(compareSnapshots(before, after).differences).toEqual([]);
    expect(await history()).toEqual([]);
    expect(pipeline.notifications[0]?.Subject).toBe('migration-pipeline: release failed');
    expect(appRunner.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('when the deployment is rolled back by App Runner, reverts the migrations this execution applied', async () => {
    await run(pipeline, { ...input, image: { uri: `${REPOSITORY}:v40` } });
    dir = await migrationsDir({
      ...fourMigrations,
      '005-e.mjs': sqlModule('create table e (id int)', 'drop table e'),
    });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir });
    appRunner
      .on(ListOperationsCommand)
      .resolves({ OperationSummaryList: [operation('op-7f3a', 'ROLLBACK_SUCCEEDED')] });

    const { error, entered } = await run(pipeline);

    expect(error?.name).toBe('DeploymentFailed');
    expect(error?.message).toContain('ROLLBACK_SUCCEEDED');
    expect(entered).toContain('RollbackMigrations');
    expect((await history()).map((row) => row.name)).toEqual(Object.keys(fourMigrations));
    expect(await db.sql`select to_regclass('e') as e`).toEqual([{ e: null }]);
  });

  it('retries a throttled deployment poll instead of rolling back under a rollout that may succeed', async () => {
    appRunner
      .on(ListOperationsCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ OperationSummaryList: [operation('op-7f3a', 'SUCCEEDED')] });

    const { error, entered, retried } = await run(pipeline);

    expect(error).toBeUndefined();
    expect(retried).toContain('PollDeployment');
    expect(entered).not.toContain('RollbackMigrations');
    expect(entered.at(-1)).toBe('Released');
    expect(await history()).toHaveLength(4);
  });

  it('fails DatabaseUnreachable after its retries, having changed nothing', async () => {
    const closed = new URL(db.url);
    closed.port = '1';
    secrets.on(GetSecretValueCommand).resolves(rdsSecretFor(closed.toString()));

    const { error, entered, retried } = await run(pipeline);

    expect(error?.name).toBe('DatabaseUnreachable');
    expect(retried.filter((state) => state === 'CheckConnectivity')).toHaveLength(5);
    expect(entered).not.toContain('Migrate');
    expect(entered).not.toContain('RollbackMigrations');
    // Left uncaught: the execution fails in CheckConnectivity itself, where a redrive resumes it.
    expect(entered).toEqual(['ResolveImage', 'CheckConnectivity']);
    expect(await db.sql`select to_regclass('migration_pipeline_history') as t`).toEqual([{ t: null }]);
  });

  it('fails InvalidInput at once on bad input or a foreign image, touching nothing', async () => {
    const bad = [
      { image: { uri: 'docker.io/library/nginx:latest' }, source: 'ci' },
      { image: { uri: `${REPOSITORY}:v1` } },
      { ...input, dryRun: 'yes' },
    ];
    for (const executionInput of bad) {
      const { error, entered, retried } = await run(pipeline, executionInput);
      expect(error?.name).toBe('InvalidInput');
      expect(retried).toEqual([]);
      expect(entered).toEqual(['ResolveImage', 'NotifyFailure', 'TookTurn', 'ReleaseFailed']);
    }
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect(await db.sql`select to_regclass('migration_pipeline_history') as t`).toEqual([{ t: null }]);
  });

  it('in a dry run reports the plan and changes nothing', async () => {
    const { output, entered } = await run(pipeline, { ...input, dryRun: true });

    expect(entered).toEqual(['ResolveImage', 'CheckConnectivity', 'IsDryRun', 'ReportPlan']);
    expect(output).toMatchObject({
      dryRun: true,
      pending: Object.keys(fourMigrations),
      image: `${REPOSITORY}@${DIGEST}`,
    });
    expect(await db.sql`select to_regclass('migration_pipeline_history') as t`).toEqual([{ t: null }]);
    expect(appRunner.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });
});
