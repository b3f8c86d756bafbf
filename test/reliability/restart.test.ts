import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startEmbeddedPostgres } from '../../cli/local/embeddedPostgres.ts';
import { ErrorName } from '../../functions/lib/errors.ts';
import { migrateStatus, migrateUp } from '../../functions/lib/migrations/index.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const slow = (n: number) =>
  sqlModule(
    `create table t${n} (id int); select pg_sleep(0.3); create table u${n} (id int)`,
    `drop table u${n}; drop table t${n}`,
  );

/** A fast shutdown, as an instance reboot does: PostgreSQL ends every session (SQLSTATE 57P01). */
async function stopNow(dir: string): Promise<void> {
  const pid = Number((await readFile(join(dir, 'pgdata', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the database stops mid-run and comes back', () => {
  // A server of its own: stopping the suite's server would fail every other test.
  let dir: string;
  let server: LocalServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restart-'));
    server = await startEmbeddedPostgres({ dir });
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with a named error, and the retry finishes with nothing half-applied', async () => {
    const migrations = await migrationsDir({
      '001.mjs': slow(1),
      '002.mjs': slow(2),
      '003.mjs': slow(3),
      '004.mjs': slow(4),
    });

    const run = migrateUp({ database: server.url, migrationsDir: migrations }).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stopNow(dir);
    const failure = await run;

    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).name).toBe(ErrorName.DatabaseUnreachable);

    server = await startEmbeddedPostgres({ dir });
    const result = await migrateUp({ database: server.url, migrationsDir: migrations });
    expect(result.pending).toEqual([]);
    const status = await migrateStatus({ database: server.url, migrationsDir: migrations });
    expect(status.applied.map((row) => row.name)).toEqual(['001.mjs', '002.mjs', '003.mjs', '004.mjs']);
  });
});
