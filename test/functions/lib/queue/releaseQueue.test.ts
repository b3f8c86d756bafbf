import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import {
  endTurn,
  freeTurn,
  queueTableFor,
  STALE_WAITER_MS,
  takeTurn,
} from '../../../../functions/lib/queue/releaseQueue.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';

const TABLE = queueTableFor('migration_pipeline_history');
const HOUR = 3_600_000;
const release = (name: string, startedAt: Date) => ({
  executionId: `arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:${name}`,
  executionName: name,
  startedAt,
  image: `123456789012.dkr.ecr.us-east-2.amazonaws.com/app:${name}`,
});
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error) => error,
  );

describe('the release queue', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });
  const take = (name: string, startedAt: Date, lifetimeMs = 2 * HOUR) =>
    takeTurn(db.sql, TABLE, release(name, startedAt), { lifetimeMs });

  it('gives the turn in start order among waiters, and again to its holder', async () => {
    const now = Date.now();
    await take('a', new Date(now - 3_000));
    const later = await failure(take('c', new Date(now - 1_000)));
    const earlier = await failure(take('b', new Date(now - 2_000)));
    await endTurn(db.sql, TABLE, release('a', new Date()).executionId, 'released');

    // c asked first, but b started first: b goes.
    const cAgain = await failure(take('c', new Date(now - 1_000)));
    const b = await take('b', new Date(now - 2_000));
    const bAgain = await take('b', new Date(now - 2_000));

    expect(later?.name).toBe(ErrorName.ReleaseQueued);
    expect(earlier?.message).toContain('release a');
    expect(cAgain?.name).toBe(ErrorName.ReleaseQueued);
    expect(cAgain?.message).toContain('b');
    expect(b.state).toBe('active');
    expect(bAgain.turnAt).toEqual(b.turnAt);
  });

  it('stops holding the queue for a release whose execution could no longer be alive', async () => {
    await take('dead', new Date(Date.now() - 2 * HOUR - 1_000));

    const next = await take('next', new Date());

    expect(next.state).toBe('active');
  });

  it('skips a waiter that stopped asking, but not one that still asks', async () => {
    const now = Date.now();
    await take('holder', new Date(now - 5_000));
    await failure(take('gone', new Date(now - 4_000)));
    await failure(take('next', new Date(now - 3_000)));
    await endTurn(db.sql, TABLE, release('holder', new Date()).executionId, 'released');
    const waitsForGone = await failure(take('next', new Date(now - 3_000)));
    await db.sql.unsafe(
      `update ${TABLE} set asked_at = now() - make_interval(secs => $1) where execution_name = 'gone'`,
      [STALE_WAITER_MS / 1000 + 1],
    );

    const next = await take('next', new Date(now - 3_000));

    expect(waitsForGone?.message).toContain('gone');
    expect(next.state).toBe('active');
  });

  it('keeps a failed rollback at the head of the queue, whatever the time, until it is freed', async () => {
    await take('broken', new Date(Date.now() - 10 * HOUR), HOUR);
    await endTurn(db.sql, TABLE, release('broken', new Date()).executionId, 'rollback_failed');

    const blocked = await failure(take('next', new Date()));
    const freed = await freeTurn(db.sql, TABLE, 'broken');
    const next = await take('next', new Date());

    expect(blocked?.name).toBe(ErrorName.ReleaseQueued);
    expect(blocked?.message).toContain('rollback failed');
    expect(freed?.state).toBe('freed');
    expect(next.state).toBe('active');
  });
});
