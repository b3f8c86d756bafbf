import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_CREDENTIALS_ENV } from '../support/aws.ts';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type FakeEndpoint, startFakeAwsEndpoint } from '../support/fakeAwsEndpoint.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const execute = promisify(execFile);
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-2:123456789012:stateMachine:MigrationPipeline-3XyZ';
const EXECUTION_ARN = 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:release-v42';
const IMAGE = '123456789012.dkr.ecr.us-east-2.amazonaws.com/app:v42';

/** A loopback port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

/**
 * The CLI as a process (the SDK reads its credentials and region from the process's environment),
 * with nothing of this machine's AWS configuration, instance metadata off, and every AWS endpoint on
 * loopback, so that no request can leave the machine.
 */
async function awsCli(args: string[], { endpoint, ...env }: Record<string, string> & { endpoint: string }) {
  return execute(process.execPath, [resolve('cli/bin.ts'), ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_SFN: endpoint,
      AWS_ENDPOINT_URL_CLOUDFORMATION: endpoint,
      ...env,
    },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

describe('AWS errors in start, status and redrive say what to do', () => {
  let unreachable: string;
  beforeEach(async () => {
    unreachable = `http://127.0.0.1:${await closedPort()}`;
  });

  it('without credentials: how to provide them', async () => {
    const env = { endpoint: unreachable, AWS_REGION: 'us-east-2' };
    const results = await Promise.all([
      awsCli(['status', '--state-machine-arn', STATE_MACHINE_ARN], env),
      awsCli(['start', '--image', IMAGE, '--state-machine-arn', STATE_MACHINE_ARN], env),
      awsCli(['redrive', EXECUTION_ARN], env),
    ]);

    for (const { code, stderr } of results) {
      expect(code).toBe(1);
      expect(stderr).toContain('AwsCredentialsMissing: No AWS credentials were found.');
      expect(stderr).toContain('AWS_PROFILE');
      expect(stderr).toContain('AWS_ACCESS_KEY_ID');
    }
  });

  it('without a region: add --region or AWS_REGION, as JSON under --json; --region is taken', async () => {
    const { AWS_REGION: _region, ...credentials } = FAKE_CREDENTIALS_ENV;
    const env = { endpoint: unreachable, ...credentials };

    const { code, stdout, stderr } = await awsCli(['status', '--stack', 'migration-pipeline', '--json'], env);

    expect(code).toBe(1);
    expect(stderr).toContain('AwsRegionMissing:');
    expect(JSON.parse(stdout).error.name).toBe('AwsRegionMissing');
    expect(JSON.parse(stdout).error.message).toMatch(/add --region .* or set AWS_REGION/);

    const withRegion = await awsCli(
      ['status', '--stack', 'migration-pipeline', '--region', 'us-east-2'],
      env,
    );
    expect(withRegion.stderr).toContain('AwsUnreachable:');
  });

  it('an endpoint that cannot be reached: says so, naming it', async () => {
    const env = { endpoint: unreachable, ...FAKE_CREDENTIALS_ENV };
    const results = await Promise.all([
      awsCli(['start', '--image', IMAGE, '--state-machine-arn', STATE_MACHINE_ARN], env),
      awsCli(['redrive', EXECUTION_ARN], env),
      awsCli(['status', EXECUTION_ARN], env),
    ]);

    for (const { code, stderr } of results) {
      expect(code).toBe(1);
      expect(stderr).toContain(`AwsUnreachable: AWS could not be reached at ${unreachable.slice(7)}`);
      expect(stderr).toContain('network');
    }
  });

  describe('answers from AWS', () => {
    let endpoint: FakeEndpoint;
    let answer: { status: number; body: unknown };
    beforeEach(async () => {
      endpoint = await startFakeAwsEndpoint({ 'AWSStepFunctions.ListExecutions': () => answer });
    });
    afterEach(async () => {
      await endpoint.close();
    });

    it('rejected or expired credentials, and a missing permission', async () => {
      const status = () =>
        awsCli(['status', '--state-machine-arn', STATE_MACHINE_ARN], {
          endpoint: endpoint.url,
          ...FAKE_CREDENTIALS_ENV,
        });

      answer = {
        status: 400,
        body: {
          __type: 'ExpiredTokenException',
          message: 'The security token included in the request is expired',
        },
      };
      const expired = await status();
      answer = {
        status: 400,
        body: {
          __type: 'AccessDeniedException',
          message:
            'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: states:ListExecutions on resource: arn:aws:states:us-east-2:123456789012:stateMachine:MigrationPipeline-3XyZ',
        },
      };
      const denied = await status();

      expect(expired.code).toBe(1);
      expect(expired.stderr).toContain(
        'AwsCredentialsRejected: AWS rejected the credentials (ExpiredTokenException)',
      );
      expect(expired.stderr).toContain('aws sso login');
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain(
        'AwsAccessDenied: User: arn:aws:iam::123456789012:user/ci is not authorized',
      );
      expect(denied.stderr).toContain('Grant');
    });
  });
});

describe('messages name what the person typed: the flag, or the environment variable', () => {
  let db: TestDatabase;
  let cwd: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    cwd = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });
  });
  afterEach(async () => {
    await db.drop();
  });
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, { env: { DATABASE_URL: db.url, ...env }, cwd });

  it('names --lock-timeout, never lockTimeoutMaxMs, and MIGRATION_LOCK_TIMEOUT when the value came from it', async () => {
    const results = await Promise.all([
      cli(['migrate', 'up', '--dir', '.', '--lock-timeout', 'soon']),
      cli(['migrate', 'up', '--dir', '.'], { MIGRATION_LOCK_TIMEOUT: 'soon' }),
      cli(['migrate', 'up', '--dir', '.', '--lock-timeout-initial', '2s']),
      cli(['migrate', 'status', '--dir', '.', '--history-table', 'x;y']),
      cli(['start', '--image', 'not-an-image', '--state-machine-arn', STATE_MACHINE_ARN]),
    ]);

    expect(results.map((result) => result.code)).toEqual([2, 2, 2, 2, 2]);
    const [flag, variable, aboveCap, historyTable, image] = results.map((result) => result.stderr);
    expect(flag).toContain('--lock-timeout: "soon" is not a duration');
    expect(variable).toContain('MIGRATION_LOCK_TIMEOUT: "soon" is not a duration');
    expect(aboveCap).toContain('--lock-timeout-initial (2000 ms) is above the cap --lock-timeout (1000 ms)');
    expect(historyTable).toContain('--history-table must be a table name');
    expect(image).toContain('--image must be an image URI');
    for (const stderr of results.map((result) => result.stderr)) {
      expect(stderr).not.toMatch(/lockTimeout|historyTable|MIGRATION_HISTORY_TABLE|input\.image/);
    }
    const [history] = await db.sql`select to_regclass('migration_pipeline_history') as t`;
    expect(history?.t).toBeNull();
  });

  it('--json usage errors are one JSON document on stdout, like the other JSON', async () => {
    const results = await Promise.all([
      cli(['migrate', 'up', '--step', 'two', '--json']),
      cli(['migrate', 'up', '--json', '--bogus']),
      cli(['start', '--json', '--state-machine-arn', STATE_MACHINE_ARN]),
    ]);

    for (const { code, stdout } of results) {
      expect(code).toBe(2);
      expect(JSON.parse(stdout)).toEqual({ error: { name: 'UsageError', message: expect.any(String) } });
    }
    expect(JSON.parse(results[2]?.stdout ?? '').error.message).toContain('--image is required');
  });
});
