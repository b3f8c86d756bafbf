import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { queueTableFor } from '../../functions/lib/queue/releaseQueue.ts';
import { DIGEST, OLD_IMAGE, REPOSITORY } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type FakeAppRunner, startFakeAppRunner } from '../support/fakeAppRunner.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';
import { type LoadedPipeline, loadPipeline, onLoopback, runExecution } from '../support/pipeline.ts';

const IMAGE_A = `${REPOSITORY}:v42`;
const IMAGE_B = `${REPOSITORY}:v43`;
const release = (uri: string) => ({ image: { uri }, source: 'ci' });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('releases of one database run one after another, in start order', () => {
  let db: TestDatabase;
  let appRunner: FakeAppRunner | undefined;
  let pipeline: LoadedPipeline;

  const load = async (options: { failingImages?: string[]; image?: string } = {}) => {
    appRunner = await startFakeAppRunner({ deployMs: 300, ...options });
    const dir = await migrationsDir({
      '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
      '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
    });
    pipeline = await loadPipeline({
      MIGRATIONS_DIR: dir,
      ...onLoopback(db.url, appRunner.url),
    });
  };

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await appRunner?.close();
    await db.drop();
  });

  const queue = () =>
    db.sql.unsafe(
      `select execution_name, state from ${queueTableFor('migration_pipeline_history')} order by started_at`,
    );
  const tables = async () =>
    (await db.sql`select to_regclass('a') is not null as a, to_regclass('b') is not null as b`)[0];

  it('a release started while another deploys waits for it, then releases on the schema it needs', async () => {
    // A's image fails its health check: App Runner rolls it back, and A's rollback reverts 001-002.
    await load({ failingImages: [IMAGE_A] });

    const a = runExecution(pipeline.handlers, release(IMAGE_A), { executionName: 'release-a' });
    // B starts once A holds the turn and is migrating or deploying.
    while ((await queue().catch(() => [])).length === 0) await pause(20);
    const b = runExecution(pipeline.handlers, release(IMAGE_B), { executionName: 'release-b' });
    const [outcomeA, outcomeB] = await Promise.all([a, b]);

    expect(outcomeA.error?.name).toBe('DeploymentFailed');
    expect(outcomeB.error).toBeUndefined();
    expect(outcomeB.retried).toContain('CheckConnectivity');
    expect(appRunner?.image()).toBe(IMAGE_B);
    // B applied the migrations again after A reverted them: B runs on the schema it was built for.
    expect(await tables()).toEqual({ a: true, b: true });
    const history = await db.sql`select name, applied_by from migration_pipeline_history order by id`;
    expect(history.map((row) => row.applied_by)).toEqual([outcomeB.executionArn, outcomeB.executionArn]);
    expect(await queue()).toEqual([
      { execution_name: 'release-a', state: 'failed' },
      { execution_name: 'release-b', state: 'released' },
    ]);
    // B never deployed while A's deployment or its rollback was under way.
    expect(appRunner?.updates.filter((update) => !update.accepted)).toEqual([]);
  }, 60_000);

  it('an earlier-started release whose turn comes after a later one was released never deploys its older image', async () => {
    await load();
    const startedEarlier = new Date(Date.now() - 60_000);

    const b = await runExecution(pipeline.handlers, release(IMAGE_B), { executionName: 'release-b' });
    // A's execution started a minute before B's ($$.Execution.StartTime, which aws-local-stepfunctions
    // always sets to now), but reaches the queue only now.
    const check = pipeline.handlers.connectivityCheck;
    const startedEarlierHandlers = {
      ...pipeline.handlers,
      connectivityCheck: (event: unknown, context: Parameters<typeof check>[1]) =>
        check({ ...(event as object), startedAt: startedEarlier.toISOString() }, context),
    };
    const a = await runExecution(startedEarlierHandlers, release(IMAGE_A), { executionName: 'release-a' });

    expect(b.error).toBeUndefined();
    expect(a.error?.name).toBe('ReleaseSuperseded');
    expect(a.error?.message).toContain('release-b');
    expect(a.entered).not.toContain('Migrate');
    expect(appRunner?.image()).toBe(IMAGE_B);
    expect(appRunner?.history).toEqual([OLD_IMAGE, IMAGE_B]);
    expect(pipeline.notifications.map((n) => n.Subject)).toEqual(['migration-pipeline: release failed']);
  }, 60_000);

  it('waits behind a release whose rollback failed until a person frees it', async () => {
    await load();
    await db.sql.unsafe(`create table ${queueTableFor('migration_pipeline_history')} (
      execution_id text primary key, execution_name text not null, image text not null, state text not null,
      started_at timestamptz not null, expires_at timestamptz not null, asked_at timestamptz not null default now(),
      turn_at timestamptz, ended_at timestamptz)`);
    await db.sql.unsafe(
      `insert into ${queueTableFor('migration_pipeline_history')} values
       ('arn:aws:states:us-east-1:000000000000:execution:migration-pipeline:release-z', 'release-z', $1,
        'rollback_failed', now() - interval '3 hours', now() - interval '1 hour', now(), now() - interval '3 hours', null)`,
      [OLD_IMAGE],
    );

    const { error, retried } = await runExecution(pipeline.handlers, release(`${REPOSITORY}@${DIGEST}`), {
      executionName: 'release-c',
    });

    expect(error?.name).toBe('ReleaseQueued');
    expect(error?.message).toContain('release-z');
    expect(error?.message).toContain('rollback failed');
    expect(retried.filter((state) => state === 'CheckConnectivity').length).toBeGreaterThan(100);
    expect(await tables()).toEqual({ a: false, b: false });
    expect(appRunner?.updates).toEqual([]);
  }, 60_000);
});
