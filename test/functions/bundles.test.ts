import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST, describeService, OLD_IMAGE, REPOSITORY, SECRET_ARN, SERVICE_ARN } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type FakeEndpoint, startFakeAwsEndpoint } from '../support/fakeAwsEndpoint.ts';

const run = promisify(execFile);
const epochSeconds = (date: Date | undefined) => (date ? date.getTime() / 1000 : undefined);

/** Invokes a built handler in a fresh Node process (a cold start), printing its result or its error's name. */
async function invoke(bundle: string, event: unknown, env: Record<string, string>) {
  const script = `
    const { handler } = await import(${JSON.stringify(resolve(`dist/${bundle}/index.mjs`))});
    const context = { functionName: ${JSON.stringify(bundle)}, awsRequestId: 'r-1', getRemainingTimeInMillis: () => 900000 };
    try {
      console.log(JSON.stringify({ result: await handler(${JSON.stringify(event)}, context) }));
    } catch (error) {
      console.log(JSON.stringify({ error: { name: error.name, message: error.message } }));
    }`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      PATH: process.env.PATH ?? '',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...env,
    },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
}

const readEvent = (name: string) => JSON.parse(readFileSync(`events/${name}.json`, 'utf8'));

describe('the built bundles (npm run build), as Lambda would load them', () => {
  let db: TestDatabase;
  let aws: FakeEndpoint;
  let env: Record<string, string>;

  beforeAll(async () => {
    await run(process.execPath, ['scripts/build.ts']);
    db = await createTestDatabase();
    const url = new URL(db.url);
    const service = describeService(OLD_IMAGE).Service;
    aws = await startFakeAwsEndpoint({
      'secretsmanager.GetSecretValue': () => ({
        body: {
          ARN: SECRET_ARN,
          Name: 'better-call-buffet/db',
          VersionId: 'a5b9a7d1-0c1e-4d55-9d0a-0f4e8c1a2b3c',
          SecretString: JSON.stringify({
            username: url.username,
            password: decodeURIComponent(url.password),
            host: url.hostname,
            port: url.port,
            dbname: db.name,
          }),
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 1768471200,
        },
      }),
      'AppRunner.DescribeService': () => ({
        body: {
          Service: {
            ...service,
            CreatedAt: epochSeconds(service?.CreatedAt),
            UpdatedAt: epochSeconds(service?.UpdatedAt),
          },
        },
      }),
      'AppRunner.UpdateService': () => ({
        body: {
          Service: {
            ...service,
            CreatedAt: epochSeconds(service?.CreatedAt),
            UpdatedAt: epochSeconds(service?.UpdatedAt),
            Status: 'OPERATION_IN_PROGRESS',
          },
          OperationId: '17fe9f55-7e91-4097-b243-fcabbb69a4cf',
        },
      }),
      'AppRunner.ListOperations': () => ({
        body: {
          OperationSummaryList: [
            {
              Id: '17fe9f55-7e91-4097-b243-fcabbb69a4cf',
              Type: 'UPDATE_SERVICE',
              Status: 'IN_PROGRESS',
              TargetArn: SERVICE_ARN,
              StartedAt: Date.now() / 1000 - 3600,
              UpdatedAt: Date.now() / 1000 - 60,
            },
          ],
        },
      }),
    });
    env = {
      AWS_REGION: 'us-east-2',
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      AWS_ENDPOINT_URL_APPRUNNER: aws.url,
      DATABASE_SECRET_ARN: SECRET_ARN,
      DATABASE_TLS: 'disable',
      ECR_REPOSITORY_URI: REPOSITORY,
    };
  }, 120_000);
  afterAll(async () => {
    await aws?.close();
    await db?.drop();
  });

  it('migrate applies the migrations shipped inside its bundle', async () => {
    const { result, error } = await invoke('migrate', readEvent('migrate-up'), env);

    expect(error).toBeUndefined();
    expect(result).toMatchObject({
      done: true,
      pending: [],
      fromVersion: null,
      toVersion: '012-create-monthly-summaries.sql',
    });
    expect(result.applied).toHaveLength(12);
    expect(aws.calls.map((call) => call.input)).toContainEqual({ SecretId: SECRET_ARN });
  });

  it('connectivity-check reports the server and that nothing is pending', async () => {
    const { result, error } = await invoke('connectivity-check', readEvent('connectivity-check'), env);

    expect(error).toBeUndefined();
    expect(result).toMatchObject({
      database: db.name,
      tls: false,
      pending: [],
      lockFree: true,
      image: `${REPOSITORY}@sha256:4b8e4c0d5a1f3e2b9c7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d`,
    });
    expect(result.serverVersion).toMatch(/^\d+/);
    expect(result.applied).toHaveLength(12);
  });

  it('deploy updates the App Runner service through the real SDK wire format', async () => {
    const { result, error } = await invoke('deploy', readEvent('deploy-start'), {
      ...env,
      APP_RUNNER_SERVICE_ARN: SERVICE_ARN,
    });

    expect(error).toBeUndefined();
    expect(result).toMatchObject({
      operationId: '17fe9f55-7e91-4097-b243-fcabbb69a4cf',
      alreadyDeployed: false,
      image: `${REPOSITORY}@sha256:4b8e4c0d5a1f3e2b9c7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d`,
    });
    const update = aws.calls.find((call) => call.target === 'AppRunner.UpdateService');
    expect(update?.input).toMatchObject({
      ServiceArn: SERVICE_ARN,
      SourceConfiguration: { AutoDeploymentsEnabled: false },
    });
  });

  it('deploy fails DeploymentFailed on a poll once the deployment outlived DEPLOY_TIMEOUT', async () => {
    const poll = {
      action: 'status',
      operationId: '17fe9f55-7e91-4097-b243-fcabbb69a4cf',
      executionName: 'release-v42',
    };
    const deployEnv = { ...env, APP_RUNNER_SERVICE_ARN: SERVICE_ARN, DEPLOY_TIMEOUT: '45min' };
    const startedLongAgo = new Date(Date.now() - 50 * 60_000).toISOString();
    const startedJustNow = new Date(Date.now() - 60_000).toISOString();

    const stuck = await invoke('deploy', { ...poll, startedAt: startedLongAgo }, deployEnv);
    const young = await invoke('deploy', { ...poll, startedAt: startedJustNow }, deployEnv);

    expect(stuck.error?.name).toBe('DeploymentFailed');
    expect(stuck.error?.message).toContain('did not finish within 45 min');
    expect(young.error).toBeUndefined();
    expect(young.result).toMatchObject({ status: 'IN_PROGRESS', finished: false });
  });

  it('deploy with DEPLOY_DRY_RUN is a dry run that says what it would have deployed', async () => {
    const { result } = await invoke(
      'deploy',
      { action: 'start', image: { uri: `${REPOSITORY}@${DIGEST}` } },
      { ...env, DEPLOY_DRY_RUN: 'true' },
    );

    expect(result).toMatchObject({ dryRun: true, image: `${REPOSITORY}@${DIGEST}` });
    expect(result.message).toContain('was not deployed');
  });

  it('each bundle refuses a malformed event with InvalidInput', async () => {
    for (const bundle of ['connectivity-check', 'migrate', 'deploy']) {
      const { error } = await invoke(bundle, { action: 'drop-database' }, env);
      expect(error?.name, bundle).toBe('InvalidInput');
    }
  });
});
