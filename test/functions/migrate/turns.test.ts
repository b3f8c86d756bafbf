import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { queueTableFor } from '../../../functions/lib/queue/releaseQueue.ts';
import { REPOSITORY } from '../../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { migrationsDir, sqlModule } from '../../support/migrationsDir.ts';
import { directDatabase, type LoadedPipeline, loadPipeline } from '../../support/pipeline.ts';

const arn = (name: string) =>
  `arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:${name}`;
const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 900_000 } as never;
const QUEUE = queueTableFor('migration_pipeline_history');

/** The events the state machine sends, for a release named `name` of image tag `tag`. */
const release = (name: string, tag: string, startedAt: Date) => ({
  check: {
    input: { image: { uri: `${REPOSITORY}:${tag}` }, source: 'ci' },
    executionId: arn(name),
    executionName: name,
    startedAt: startedAt.toISOString(),
  },
  up: { action: 'up', runId: arn(name), executionName: name },
  rollback: { action: 'rollback', runId: arn(name), executionName: name },
  end: (outcome: string) => ({ action: 'end', outcome, runId: arn(name), executionName: name }),
});

describe('a release that lost its turn', () => {
  let db: TestDatabase;
  let pipeline: LoadedPipeline;
  beforeEach(async () => {
    db = await createTestDatabase();
    const dir = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir, ...directDatabase(db.url) });
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  // What the state machine adds from ResolveImage's result: the release's bundle (and image, pinned).
  const asSent = (event: Record<string, unknown>) => {
    if ('input' in event) {
      const { image } = event.input as { image: unknown };
      return { ...event, release: { image, bundle: pipeline.bundle, migrationsPath: '/app/migrations' } };
    }
    return event.action === 'end' ? event : { ...event, bundle: pipeline.bundle };
  };
  const call = (handler: 'connectivityCheck' | 'migrate', event: unknown) =>
    pipeline.handlers[handler](asSent(event as Record<string, unknown>), context).then(
      (result) => ({ result, error: undefined }),
      (error: Error) => ({ result: undefined, error }),
    );

  it('applies nothing more, and refuses to revert what a later release deployed against', async () => {
    const a = release('release-a', 'v42', new Date(Date.now() - 10_000));
    const b = release('release-b', 'v43', new Date());
    expect((await call('connectivityCheck', a.check)).error).toBeUndefined();
    expect((await call('migrate', a.up)).result).toMatchObject({ applied: ['001-a.mjs'] });

    // While A holds the turn, B waits and says for whom.
    const queued = await call('connectivityCheck', b.check);
    expect(queued.error?.name).toBe('ReleaseQueued');
    expect(queued.error?.message).toContain('release-a');

    // A's execution is presumed dead: an operator frees its turn as the runbook says; B goes.
    await db.sql.unsafe(`update ${QUEUE} set state = 'freed' where execution_name = 'release-a'`);
    expect((await call('connectivityCheck', b.check)).error).toBeUndefined();
    expect((await call('migrate', b.up)).error).toBeUndefined();
    expect((await call('migrate', b.end('released'))).result).toMatchObject({ state: 'released' });

    // A was alive after all: it applies nothing more, and its rollback leaves B's schema alone.
    const upAgain = await call('migrate', a.up);
    const rollback = await call('migrate', a.rollback);

    expect(upAgain.error?.name).toBe('ReleaseSuperseded');
    expect(rollback.error?.name).toBe('RollbackRefused');
    expect(rollback.error?.message).toContain('release-b');
    expect(await db.sql`select to_regclass('a') is not null as a`).toEqual([{ a: true }]);
    expect(await db.sql`select name from migration_pipeline_history`).toEqual([{ name: '001-a.mjs' }]);
  });
});
