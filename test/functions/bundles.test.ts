import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BundleRef, unpackBundle } from '../../functions/lib/bundle/bundle.ts';
import { s3BundleStore } from '../../functions/lib/bundle/s3Store.ts';
import { DIGEST, describeService, OLD_IMAGE, REPOSITORY, SECRET_ARN, SERVICE_ARN } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type FakeEndpoint, startFakeAwsEndpoint } from '../support/fakeAwsEndpoint.ts';
import { pushImage } from '../support/imageLayout.ts';
import { bundleFolder } from '../support/pipeline.ts';
import { registryToolsAvailable, startRegistry } from '../support/registry.ts';
import { type S3Server, startS3 } from '../support/s3.ts';

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

const sampleEvent = (name: string) => JSON.parse(readFileSync(`events/${name}.json`, 'utf8'));

describe('the built bundles (npm run build), as Lambda would load them', () => {
  let db: TestDatabase;
  let aws: FakeEndpoint;
  let s3: S3Server;
  let env: Record<string, string>;
  let bundle: BundleRef | undefined;
  /** A sample event as the state machine sends it for this project's migrations, bundled in the bucket. */
  const readEvent = (name: string) => {
    const event = sampleEvent(name);
    if (event.bundle) event.bundle = bundle;
    if (event.release) event.release.bundle = bundle;
    return event;
  };

  beforeAll(async () => {
    await run(process.execPath, ['scripts/build.ts']);
    s3 = await startS3();
    bundle = await bundleFolder('migrations', s3BundleStore(s3.client, s3.bucket));
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
      // s3rver's own key pair (it checks signatures); the fake AWS endpoint takes any.
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      AWS_ENDPOINT_URL_APPRUNNER: aws.url,
      DATABASE_SECRET_ARN: SECRET_ARN,
      DATABASE_TLS: 'disable',
      ECR_REPOSITORY_URI: REPOSITORY,
      BUNDLE_BUCKET: s3.bucket,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      BUNDLE_S3_PATH_STYLE: 'true',
    };
  }, 120_000);
  afterAll(async () => {
    await s3?.stop();
    await aws?.close();
    await db?.drop();
  });

  it("migrate applies the release's bundle, fetched from the bucket and verified", async () => {
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

  it.skipIf(!registryToolsAvailable())(
    'resolve-image reads an image from its registry into a bundle in the bucket, pinned by digest',
    async () => {
      const registry = await startRegistry();
      try {
        const digest = await pushImage(registry.host, 'app', 'v7', {
          layers: [{ files: { 'app/migrations/001-a.sql': '-- migrate:up\ncreate table a (id int);\n' } }],
        });
        const { result, error } = await invoke(
          'resolve-image',
          { input: { image: { uri: `${registry.host}/app:v7` }, source: 'ci' }, executionName: 'release-v7' },
          { ...env, ECR_REPOSITORY_URI: `${registry.host}/app` },
        );

        expect(error).toBeUndefined();
        expect(result).toMatchObject({
          image: { uri: `${registry.host}/app@${digest}`, digest, tag: 'v7' },
          bundle: { migrations: 1 },
          migrationsPath: '/app/migrations',
        });
        const stored = await s3BundleStore(s3.client, s3.bucket).get(result.bundle);
        expect(unpackBundle(stored, result.bundle.sha256).files.map((file) => file.name)).toEqual([
          '001-a.sql',
        ]);
      } finally {
        await registry.stop();
      }
    },
  );

  it('each bundle refuses a malformed event with InvalidInput', async () => {
    for (const name of ['resolve-image', 'connectivity-check', 'migrate', 'deploy']) {
      const { error } = await invoke(name, { action: 'drop-database' }, env);
      expect(error?.name, name).toBe('InvalidInput');
    }
  });
});
