import { createServer } from 'node:net';
import { AppRunnerClient, DescribeServiceCommand } from '@aws-sdk/client-apprunner';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DIGEST, describeService, REPOSITORY, rdsSecretFor } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';
import { type LoadedPipeline, loadPipeline, runExecution } from '../support/pipeline.ts';

const secrets = mockClient(SecretsManagerClient);
const appRunner = mockClient(AppRunnerClient);
const input = { image: { uri: `${REPOSITORY}@${DIGEST}` }, source: 'reliability' };
/** The connectivity check's event as the state machine sends it. */
/** The connectivity check's event, as the state machine sends it after ResolveImage bundled `pipeline`'s folder. */
const checkEventFor = (pipeline: LoadedPipeline) => ({
  input,
  release: { image: input.image, bundle: pipeline.bundle, migrationsPath: '/app/migrations' },
  executionId: 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:reliability',
  executionName: 'reliability',
  startedAt: new Date().toISOString(),
});
const context = {
  functionName: 'connectivity-check',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 60_000,
};

const migrations = Object.fromEntries(
  Array.from({ length: 8 }, (_, i) => [
    `00${i + 1}-t${i}.mjs`,
    sqlModule(`create table t${i} (id int); select pg_sleep(0.02)`, `drop table t${i}`),
  ]),
);

describe('pipelines under stress', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    secrets.reset();
    appRunner.reset();
    secrets.on(GetSecretValueCommand).resolves(rdsSecretFor(db.url));
    appRunner.on(DescribeServiceCommand).resolves(describeService(`${REPOSITORY}@${DIGEST}`));
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  it('8 concurrent pipelines on one database apply each migration exactly once', async () => {
    const pipeline = await loadPipeline({
      MIGRATIONS_DIR: await migrationsDir(migrations),
      MIGRATION_LOCK_WAIT: '200ms',
    });

    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        runExecution(pipeline.handlers, input, { executionName: `concurrent-${i}`, retryMs: 100 }),
      ),
    );

    // They queue: each released in turn, or stopped without changing anything because a
    // later-started release of the same image was released first.
    for (const outcome of outcomes) {
      if (outcome.error) expect(outcome.error.name).toBe('ReleaseSuperseded');
      if (outcome.error) expect(outcome.entered).not.toContain('Migrate');
    }
    expect(outcomes.filter((outcome) => !outcome.error).length).toBeGreaterThan(0);
    const rows = await db.sql<
      { name: string; applied_by: string }[]
    >`select name, applied_by from migration_pipeline_history order by id`;
    expect(rows.map((row) => row.name)).toEqual(Object.keys(migrations));
    expect(new Set(rows.map((row) => row.applied_by)).size).toBeGreaterThanOrEqual(1);
    const [tables] =
      await db.sql`select count(*)::int as n from pg_tables where schemaname = 'public' and tablename like 't%'`;
    expect(tables?.n).toBe(8);
  });

  it('never logs or reports the password or the secret, in a happy and in failing runs', async () => {
    const password = decodeURIComponent(new URL(db.url).password);
    const secretString = rdsSecretFor(db.url).SecretString;
    const written: string[] = [];
    const capture = (stream: NodeJS.WriteStream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
    const spies = [capture(process.stdout), capture(process.stderr)];
    const run = async (dir: string) => {
      const logging = {
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        POWERTOOLS_METRICS_DISABLED: 'false',
        POWERTOOLS_METRICS_NAMESPACE: 'Test',
      };
      const pipeline = await loadPipeline({ MIGRATIONS_DIR: dir, ...logging });
      return (await runExecution(pipeline.handlers, input, { retryMs: 1 })).error?.name;
    };
    try {
      expect(await run(await migrationsDir(migrations))).toBeUndefined();
      const broken = await migrationsDir({
        ...migrations,
        '009-broken.mjs': sqlModule('select * from missing_table', 'select 1'),
      });
      expect(await run(broken)).toBe('MigrationFailed');
      // Each run is a fresh cold start: a warm one would still hold the right secret in its cache.
      secrets
        .on(GetSecretValueCommand)
        .resolves(rdsSecretFor(db.url.replace(encodeURIComponent(password), 'wrong-password')));
      expect(await run(broken)).toBe('AuthenticationFailed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const everything = written.join('');
    expect(everything).toContain('"level":"ERROR"');
    expect(everything).toContain('MigrationFailed');
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(secretString);
    expect(everything).not.toContain('wrong-password');
  });

  it('re-reads a rotated password once instead of failing AuthenticationFailed', async () => {
    const stale = new URL(db.url);
    stale.password = 'the-password-before-rotation';
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce(rdsSecretFor(stale.toString()))
      .resolves(rdsSecretFor(db.url));
    const pipeline = await loadPipeline({ MIGRATIONS_DIR: await migrationsDir(migrations) });

    const report = await pipeline.handlers.connectivityCheck(checkEventFor(pipeline), context as never);

    expect(report).toMatchObject({ pending: Object.keys(migrations) });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('classifies a wrong password, an unknown host and a closed port within the connect timeout', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closedPort = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const url = new URL(db.url);
    const variants: [string, (u: URL) => void, string][] = [
      ['wrong password', (u) => (u.password = 'not-the-password'), 'AuthenticationFailed'],
      ['unknown host', (u) => (u.hostname = 'db.nowhere.invalid'), 'DatabaseUnreachable'],
      ['closed port', (u) => (u.port = String(closedPort)), 'DatabaseUnreachable'],
    ];
    for (const [what, change, expected] of variants) {
      const broken = new URL(url);
      change(broken);
      secrets.on(GetSecretValueCommand).resolves(rdsSecretFor(broken.toString()));
      // A cold start per variant: a warm function would still hold the previous secret in its cache.
      const fresh = await loadPipeline({
        MIGRATIONS_DIR: await migrationsDir(migrations),
        DATABASE_CONNECT_TIMEOUT: '3s',
      });
      const started = performance.now();
      const error = await fresh.handlers.connectivityCheck(checkEventFor(fresh), context as never).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.name, what).toBe(expected);
      expect(performance.now() - started, what).toBeLessThan(3_000);
    }
  });
});
