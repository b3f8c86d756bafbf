import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrationLockKey } from '../../../../functions/lib/migrations/advisoryLock.ts';
import { DEFAULT_SETTINGS, migrateUp, resolveSettings } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir, sqlModule } from '../../../support/migrationsDir.ts';

describe('one run at a time', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('applies each migration exactly once when 4 runs start together', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [
        `00${i + 1}-t${i}.mjs`,
        sqlModule(`create table t${i} (id int); select pg_sleep(0.05)`, `drop table t${i}`),
      ]),
    );
    const dir = await migrationsDir(files);
    const settings = resolveSettings({ lockWaitMs: 30_000 });

    const results = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        migrateUp({ database: db.url, migrationsDir: dir, settings, runId: `run-${n}` }),
      ),
    );

    const appliedByRuns = results.flatMap((result) => result.applied).sort();
    expect(appliedByRuns).toEqual(Object.keys(files));
    expect(results.every((result) => result.done && result.pending.length === 0)).toBe(true);
    const [row] =
      await db.sql`select count(*)::int as n, count(distinct name)::int as names from migration_pipeline_history`;
    expect(row).toEqual({ n: 6, names: 6 });
  });

  it('fails MigrationLockBusy, naming the holder, when the lock stays taken past the wait', async () => {
    const dir = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });
    const holder = postgres(db.url, { max: 1 });
    const [{ pid }] = await holder<[{ pid: number }]>`select pg_backend_pid() as pid`;
    await holder`select pg_advisory_lock(${migrationLockKey(DEFAULT_SETTINGS.historyTable).toString()}::bigint)`;

    try {
      const failure = await migrateUp({
        database: db.url,
        migrationsDir: dir,
        settings: resolveSettings({ lockWaitMs: 300 }),
      }).catch((e) => e);

      expect(failure.name).toBe(ErrorName.MigrationLockBusy);
      expect(failure.context.holderPid).toBe(pid);
      expect(await db.sql`select to_regclass('a') as a`).toEqual([{ a: null }]);
    } finally {
      await holder.end();
    }
  });
});

describe('bounded lock waits', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    await db.sql`create table accounts (id int primary key, balance int not null default 0)`;
    await db.sql`insert into accounts select g, 0 from generate_series(1, 1000) g`;
  });
  afterEach(async () => {
    await db.drop();
  });

  /** Plays the app: reads and writes `accounts` in a loop until `stop`, recording the slowest query. */
  function appLoad() {
    const app = postgres(db.url, { max: 4, onnotice: () => {} });
    let running = true;
    let worstMs = 0;
    let failures = 0;
    const client = async () => {
      for (let i = 0; running && i < 100_000; i++) {
        const started = performance.now();
        try {
          await app`update accounts set balance = balance + 1 where id = ${(i % 1000) + 1}`;
        } catch {
          failures++;
        }
        worstMs = Math.max(worstMs, performance.now() - started);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const clients = [client(), client(), client()];
    return {
      async stop() {
        running = false;
        await Promise.all(clients);
        await app.end();
        return { worstMs, failures };
      },
    };
  }

  async function openBlocker() {
    const blocker = postgres(db.url, { max: 1 });
    const [{ pid }] = await blocker<[{ pid: number }]>`select pg_backend_pid() as pid`;
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A transaction that read the table and stays open: it holds ACCESS SHARE, which ALTER TABLE waits for.
    const transaction = blocker.begin(async (tx) => {
      await tx`select count(*) from accounts`;
      await released;
    });
    await new Promise((r) => setTimeout(r, 100));
    return {
      pid,
      async end() {
        release();
        await transaction;
        await blocker.end();
      },
    };
  }

  const addColumn = {
    '001-add-note.mjs': sqlModule(
      'alter table accounts add column note text',
      'alter table accounts drop column note',
    ),
  };

  it('never holds the app queries much longer than the lock-timeout cap, and applies once the blocker ends', async () => {
    const dir = await migrationsDir(addColumn);
    const settings = resolveSettings({
      lockTimeoutInitialMs: 50,
      lockTimeoutMaxMs: 300,
      lockRetryBudgetMs: 30_000,
    });
    const blocker = await openBlocker();
    const app = appLoad();
    let retries = 0;

    const migration = migrateUp({
      database: db.url,
      migrationsDir: dir,
      settings,
      onLockRetry: () => {
        retries++;
      },
    });
    await new Promise((r) => setTimeout(r, 4000));
    await blocker.end();
    const result = await migration;
    const { worstMs, failures } = await app.stop();

    expect(result.applied).toEqual(['001-add-note.mjs']);
    expect(retries).toBeGreaterThan(3);
    expect(failures).toBe(0);
    // The blocker held the table for 4 s; without bounded waits every app query would queue that long.
    expect(worstMs).toBeLessThan(2000);
    const [column] =
      await db.sql`select count(*)::int as n from information_schema.columns where table_name = 'accounts' and column_name = 'note'`;
    expect(column?.n).toBe(1);
  });

  it('fails LockTimeout with no trace when the schedule is spent, naming the blocking session', async () => {
    const dir = await migrationsDir(addColumn);
    const settings = resolveSettings({
      lockTimeoutInitialMs: 50,
      lockTimeoutMaxMs: 200,
      lockRetryBudgetMs: 1500,
    });
    const blocker = await openBlocker();

    try {
      const failure = await migrateUp({ database: db.url, migrationsDir: dir, settings }).catch((e) => e);

      expect(failure.name).toBe(ErrorName.LockTimeout);
      expect(failure.context.attempts).toBeGreaterThan(3);
      expect(failure.context.blockers.map((b: { pid: number }) => b.pid)).toContain(blocker.pid);
      expect(failure.message).toContain('nothing of it was applied');
    } finally {
      await blocker.end();
    }
    const [column] =
      await db.sql`select count(*)::int as n from information_schema.columns where table_name = 'accounts' and column_name = 'note'`;
    expect(column?.n).toBe(0);
    const [history] = await db.sql`select count(*)::int as n from migration_pipeline_history`;
    expect(history?.n).toBe(0);
  });
});
