import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { migrationLockKey } from '../../../functions/lib/migrations/advisoryLock.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { migrationsDir, sqlModule } from '../../support/migrationsDir.ts';
import { directDatabase, loadPipeline } from '../../support/pipeline.ts';

const RUN_ID = 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:release-v42';

/** The context Lambda passes: the handler sees `remainingMs` left, counting down. */
const contextWith = (remainingMs: number) => {
  const deadline = Date.now() + remainingMs;
  return {
    functionName: 'migrate',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:migrate',
    memoryLimitInMB: '512',
    awsRequestId: 'r-1',
    logGroupName: '/aws/lambda/migrate',
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
};

describe('the migrate function under its deadline', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    await db.sql`create table orders (id int)`;
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  it('terminates a migration still running when its time is up: no lock kept, nothing committed later', async () => {
    const dir = await migrationsDir({
      '001-slow.mjs': sqlModule(
        'alter table orders add column note text; select pg_sleep(20); create table late (id int)',
        'drop table late',
      ),
    });
    const pipeline = await loadPipeline({
      MIGRATIONS_DIR: dir,
      ...directDatabase(db.url),
      MIGRATION_DEADLINE_MARGIN: '100ms',
    });
    const started = Date.now();

    const answer = await pipeline.handlers
      .migrate({ action: 'up', runId: RUN_ID, bundle: pipeline.bundle }, contextWith(6_000))
      .then(
        () => undefined,
        (error: Error) => error,
      );

    expect(answer?.name).toBe('MigrationTimedOut');
    expect(Date.now() - started).toBeLessThan(6_000);
    // At once: no session of the migration holds a lock on the table or the migration lock.
    const locks = await db.sql`
      select l.mode from pg_locks l join pg_class c on c.oid = l.relation
      where c.relname = 'orders' and l.database = (select oid from pg_database where datname = current_database())`;
    expect(locks).toEqual([]);
    const key = migrationLockKey('migration_pipeline_history');
    const [advisory] = await db.sql`
      select count(*)::int as held from pg_locks where locktype = 'advisory'
        and database = (select oid from pg_database where datname = current_database())
        and objid::bigint = (${key.toString()}::bigint & 4294967295)`;
    expect(advisory?.held).toBe(0);
    // And later: the migration never commits behind the function's back.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await db.sql`select to_regclass('late') as late`).toEqual([{ late: null }]);
    expect(
      await db.sql`select column_name from information_schema.columns where table_name = 'orders'`,
    ).toEqual([{ column_name: 'id' }]);
    expect(await db.sql`select name from migration_pipeline_history`).toEqual([]);
  }, 30_000);

  it('pauses inBatches between batches when time is short; the next invocations resume until it is done', async () => {
    await db.sql`insert into orders select g from generate_series(1, 2000) g`;
    await db.sql`alter table orders add column kind text`;
    const dir = await migrationsDir({
      '001-backfill.mjs': `
export const transaction = false;
export async function up(sql, { inBatches }) {
  await inBatches(async (tx, size) => {
    const rows = await tx\`update orders set kind = 'sale' where id in (
      select id from orders where kind is null limit \${size}) returning id\`;
    await tx\`select pg_sleep(0.2)\`;
    return rows.length;
  }, { batchSize: 50 });
}
export async function down() {}`,
    });
    const pipeline = await loadPipeline({
      MIGRATIONS_DIR: dir,
      ...directDatabase(db.url),
      MIGRATION_DEADLINE_MARGIN: '5s',
    });
    // 40 batches of 0.2 s: more than one invocation's 10 s less its 5 s margin.
    const invoke = () =>
      pipeline.handlers.migrate(
        { action: 'up', runId: RUN_ID, bundle: pipeline.bundle },
        contextWith(10_000),
      ) as Promise<{
        done: boolean;
      }>;
    const left = async () => (await db.sql`select count(*)::int as n from orders where kind is null`)[0]?.n;

    const first = await invoke();
    const leftAfterFirst = await left();
    const recordedAfterFirst = await db.sql`select name from migration_pipeline_history`;
    let invocations = 1;
    for (let result = first; !result.done && invocations < 10; invocations++) result = await invoke();

    expect(first.done).toBe(false);
    expect(leftAfterFirst).toBeGreaterThan(0);
    expect(leftAfterFirst).toBeLessThan(2000);
    expect(recordedAfterFirst).toEqual([]);
    expect(invocations).toBeGreaterThan(1);
    expect(await left()).toBe(0);
    expect(await db.sql`select name from migration_pipeline_history`).toEqual([{ name: '001-backfill.mjs' }]);
  }, 60_000);

  it('refuses settings that cannot fit in the invocation before touching the database', async () => {
    const dir = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });
    const pipeline = await loadPipeline({
      MIGRATIONS_DIR: dir,
      ...directDatabase(db.url),
      MIGRATION_DEADLINE_MARGIN: '',
      MIGRATION_STATEMENT_TIMEOUT: '15min',
    });

    const answer = await pipeline.handlers
      .migrate({ action: 'up', runId: RUN_ID, bundle: pipeline.bundle }, contextWith(900_000))
      .then(
        () => undefined,
        (error: Error & { context?: unknown }) => error,
      );

    expect(answer?.name).toBe('ConfigurationInvalid');
    expect(answer?.message).toContain('MIGRATION_STATEMENT_TIMEOUT');
    expect(await db.sql`select to_regclass('migration_pipeline_history') as t`).toEqual([{ t: null }]);
  });
});
