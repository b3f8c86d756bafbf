import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { endTurn, queueTableFor, takeTurn } from '../../functions/lib/queue/releaseQueue.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const execute = promisify(execFile);
const TABLE = queueTableFor('migration_pipeline_history');
const executionId = 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:release-v41';

describe('migration-pipeline queue, as typed', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });
  const run = (...args: string[]) =>
    execute(process.execPath, [resolve('cli/bin.ts'), 'queue', ...args], {
      env: { ...process.env, DATABASE_URL: db.url },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  it('lists the releases and frees the turn a failed rollback holds', async () => {
    const release = { executionId, executionName: 'release-v41', startedAt: new Date(), image: 'app:v41' };
    await takeTurn(db.sql, TABLE, release, { lifetimeMs: 7_200_000 });
    await endTurn(db.sql, TABLE, executionId, 'rollback_failed');

    const listed = await run();
    const freed = await run('free', 'release-v41', '--json');
    const again = await run('free', 'release-v41');
    const listedJson = JSON.parse((await run('--json')).stdout);
    const badUsage = await run('drop');

    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/release-v41\s+rollback_failed/);
    expect(listed.stdout).toContain('never: free it by hand');
    expect(JSON.parse(freed.stdout).freed).toMatchObject({ executionName: 'release-v41', state: 'freed' });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('InvalidInput');
    expect(listedJson.releases).toEqual([expect.objectContaining({ executionId, state: 'freed' })]);
    expect(badUsage.code).toBe(2);
  });
});
