import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DIGEST, REPOSITORY, rdsSecretFor } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import {
  CLUSTER,
  deployment,
  describeServices,
  NEW_DEPLOYMENT,
  NEW_TASK_DEFINITION_ARN,
  OLD_DEPLOYMENT,
  SERVICE,
  service,
  TAGS,
  TASK_DEFINITION_ARN,
  taskDefinition,
} from '../support/ecs.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';
import { loadPipeline, runExecution } from '../support/pipeline.ts';

const secrets = mockClient(SecretsManagerClient);
const ecs = mockClient(ECSClient);
const input = { image: { uri: `${REPOSITORY}@${DIGEST}` }, source: 'ci' };

describe('the pipeline with DEPLOY_TARGET=ecs', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    secrets.reset();
    ecs.reset();
    secrets.on(GetSecretValueCommand).resolves(rdsSecretFor(db.url));
    ecs
      .on(DescribeServicesCommand)
      .resolves(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)));
    ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition(), tags: TAGS });
    ecs.on(RegisterTaskDefinitionCommand).resolves({
      taskDefinition: {
        ...taskDefinition(`${REPOSITORY}@${DIGEST}`),
        taskDefinitionArn: NEW_TASK_DEFINITION_ARN,
      },
    });
    ecs.on(UpdateServiceCommand).resolves({
      service: service([
        deployment(NEW_DEPLOYMENT, 'PRIMARY', 'IN_PROGRESS', NEW_TASK_DEFINITION_ARN),
        deployment(OLD_DEPLOYMENT, 'ACTIVE', 'COMPLETED', TASK_DEFINITION_ARN),
      ]),
    });
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  const ecsEnv = (dir: string) => ({
    MIGRATIONS_DIR: dir,
    DEPLOY_TARGET: 'ecs',
    ECS_CLUSTER: CLUSTER,
    ECS_SERVICE: SERVICE,
    ECS_CONTAINER_NAME: 'app',
    APP_RUNNER_SERVICE_ARN: '',
  });

  it('fails the release when the circuit breaker rolls the deployment back, and reverts its migrations', async () => {
    const dir = await migrationsDir({
      '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
      '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
    });
    const pipeline = await loadPipeline(ecsEnv(dir));
    // Preflight and deploy see the old deployment; the poll sees the new one fail and the circuit
    // breaker roll back, which the restore follows until the old task definition is stable again.
    const rollingBack = describeServices(
      deployment(
        OLD_DEPLOYMENT,
        'PRIMARY',
        'IN_PROGRESS',
        TASK_DEFINITION_ARN,
        `ECS deployment circuit breaker: rolling back to deploymentId ${OLD_DEPLOYMENT}.`,
      ),
      deployment(NEW_DEPLOYMENT, 'ACTIVE', 'FAILED', NEW_TASK_DEFINITION_ARN),
    );
    ecs
      .on(DescribeServicesCommand)
      .resolvesOnce(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)))
      .resolvesOnce(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)))
      .resolvesOnce(rollingBack)
      .resolvesOnce(rollingBack)
      .resolves(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)));

    const { error, entered } = await runExecution(pipeline.handlers, input);

    expect(error?.name).toBe('DeploymentFailed');
    expect(error?.message).toContain('circuit breaker');
    expect(entered).toEqual(
      expect.arrayContaining([
        'Deploy',
        'WaitForDeployment',
        'PollDeployment',
        'RestoreService',
        'PollRestore',
        'RollbackMigrations',
        'NotifyFailure',
      ]),
    );
    expect(entered.indexOf('PollRestore')).toBeLessThan(entered.indexOf('RollbackMigrations'));
    expect(
      ecs.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input.containerDefinitions?.[0]?.image,
    ).toBe(`${REPOSITORY}@${DIGEST}`);
    expect(await db.sql`select name from migration_pipeline_history`).toEqual([]);
    expect(await db.sql`select to_regclass('a') as a, to_regclass('b') as b`).toEqual([{ a: null, b: null }]);
  });

  it('succeeds once the new deployment completes', async () => {
    const pipeline = await loadPipeline(
      ecsEnv(await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') })),
    );
    ecs
      .on(DescribeServicesCommand)
      .resolvesOnce(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)))
      .resolvesOnce(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)))
      .resolvesOnce(
        describeServices(
          deployment(NEW_DEPLOYMENT, 'PRIMARY', 'IN_PROGRESS', NEW_TASK_DEFINITION_ARN),
          deployment(OLD_DEPLOYMENT, 'ACTIVE', 'COMPLETED', TASK_DEFINITION_ARN),
        ),
      )
      .resolves(
        describeServices(deployment(NEW_DEPLOYMENT, 'PRIMARY', 'COMPLETED', NEW_TASK_DEFINITION_ARN)),
      );

    const { error, entered } = await runExecution(pipeline.handlers, input);

    expect(error).toBeUndefined();
    expect(entered.filter((state) => state === 'PollDeployment')).toHaveLength(2);
    expect(entered.at(-1)).toBe('Released');
  });

  it('refuses a foreign image before any ECS call', async () => {
    const pipeline = await loadPipeline(ecsEnv(await migrationsDir({})));

    const { error } = await runExecution(pipeline.handlers, {
      image: { uri: 'docker.io/library/nginx:latest' },
      source: 'ci',
    });

    expect(error?.name).toBe('InvalidInput');
    expect(ecs.calls()).toHaveLength(0);
  });
});
