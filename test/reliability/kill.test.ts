import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateStatus, migrateUp, resolveSettings } from '../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir } from '../support/migrationsDir.ts';

/**
 * `migrate up` in its own process, killed with SIGKILL at chosen points, each observed on the server
 * before the kill: inside a transactional migration, between a migration and its history row, and
 * inside a CREATE INDEX CONCURRENTLY build. After each kill the database must hold no half-applied
 * migration, and the next run must converge with no INVALID index.
 */

/** Two tables with a pause between, marked so the pause can be seen in pg_stat_activity. */
const pair = (n: number) => `
export async function up(sql) {
  await sql\`create table m${n}_a (id int)\`;
  await sql\`select pg_sleep(0.3) /* inside m${n} */\`;
  await sql\`create table m${n}_b (id int)\`;
}
export async function down(sql) { await sql\`drop table m${n}_b\`; await sql\`drop table m${n}_a\`; }
`;
const FILES = {
  '001-big.mjs': `
export async function up(sql) { await sql\`create table big (id int, v int)\`; await sql\`insert into big select g, g % 1000 from generate_series(1, 250000) g\`; }
export async function down(sql) { await sql\`drop table big\`; }`,
  '002-pair.mjs': pair(2),
  '003-index.mjs': `
export const transaction = false;
export async function up(sql) { await sql\`create index concurrently if not exists big_v_idx on big (v, id)\`; }
export async function down(sql) { await sql\`drop index concurrently if exists big_v_idx\`; }`,
  // Outside a transaction, so re-runnable: its work commits before its history row is written.
  '004-outside.mjs': `
export const transaction = false;
export async function up(sql) {
  await sql\`create table if not exists m4 (id int)\`;
  await sql\`select pg_sleep(0.3) /* inside m4 */\`;
}
export async function down(sql) { await sql\`drop table if exists m4\`; }`,
  '005-pair.mjs': pair(5),
};

type KillPoint =
  | 'inside a transactional migration'
  | 'between a migration and its history row'
  | 'inside a CREATE INDEX CONCURRENTLY build';

interface Backend {
  pid: number;
  query: string;
  waitEventType: string | null;
  building: boolean;
}

function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 48_271) % 2_147_483_647;
    return state / 2_147_483_647;
  };
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The migrate process's session, as the server sees it. */
async function migrationBackend(sql: Sql, database: string): Promise<Backend | undefined> {
  const [row] = await sql<Backend[]>`
    select a.pid, coalesce(a.query, '') as query, a.wait_event_type as "waitEventType",
           exists (select 1 from pg_stat_progress_create_index p where p.pid = a.pid) as building
    from pg_stat_activity a
    where a.datname = ${database} and a.application_name like 'migration-pipeline cli-%'`;
  return row;
}

/** Polls until `matches`, for at most 30 s: a kill point that is never reached fails the test. */
async function waitFor(sql: Sql, database: string, what: string, matches: (b: Backend) => boolean) {
  for (const until = Date.now() + 30_000; Date.now() < until; ) {
    const backend = await migrationBackend(sql, database);
    if (backend && matches(backend)) return backend;
    await pause(5);
  }
  throw new Error(`the migrate process never reached ${what}`);
}

/**
 * Runs `migrate up` and kills it at `point`, `jitterMs` after the point was seen. Between a migration
 * and its history row there is no gap to see, so one is held open: once migration 004 is in its last
 * statement, the history table is locked, its history row waits, and the kill lands while it waits.
 */
async function killAt(
  db: TestDatabase,
  dir: string,
  point: KillPoint,
  transactional: 2 | 5,
  jitterMs: number,
) {
  const child: ChildProcess = spawn(
    process.execPath,
    [resolve('cli/bin.ts'), 'migrate', 'up', '--dir', dir, '--json'],
    { env: { ...process.env, DATABASE_URL: db.url }, stdio: 'ignore' },
  );
  const exited = new Promise((done) => child.on('exit', done));
  const blocker = point === 'between a migration and its history row' ? await db.sql.reserve() : undefined;
  try {
    if (point === 'inside a transactional migration') {
      await waitFor(db.sql, db.name, point, (b) => b.query.includes(`inside m${transactional}`));
      await pause(jitterMs);
    } else if (point === 'inside a CREATE INDEX CONCURRENTLY build') {
      await waitFor(db.sql, db.name, point, (b) => b.building);
      await pause(jitterMs);
    } else {
      await waitFor(db.sql, db.name, 'migration 004', (b) => b.query.includes('inside m4'));
      await blocker?.unsafe('begin; lock table migration_pipeline_history in share mode');
      await waitFor(
        db.sql,
        db.name,
        "004's history row",
        (b) =>
          b.waitEventType === 'Lock' && /insert into "public"."migration_pipeline_history"/i.test(b.query),
      );
    }
    child.kill('SIGKILL');
    await exited;
  } finally {
    child.kill('SIGKILL');
    await blocker?.unsafe('rollback').catch(() => {});
    blocker?.release();
  }
  // The server notices the dead client and ends its session: wait until it has.
  for (let i = 0; i < 400 && (await migrationBackend(db.sql, db.name)); i++) await pause(10);
}

describe('kill -9 of a migrate process at 20 chosen points', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await migrationsDir(FILES);
  });
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.drop()));
  });

  it('never leaves a migration half-applied or unrecorded work that cannot be redone, and the next run converges', async () => {
    const next = seeded(20_261_125);
    const points: KillPoint[] = [
      'inside a transactional migration',
      'between a migration and its history row',
      'inside a CREATE INDEX CONCURRENTLY build',
    ];
    const hit = new Map<KillPoint, number>();
    for (let n = 0; n < 20; n++) {
      const point = points[n % points.length] as KillPoint;
      const transactional = next() < 0.5 ? 2 : 5;
      // Anywhere in the transactional migration's 300 ms pause; early in the index build, which is short.
      const jitterMs = Math.round(next() * (point === 'inside a transactional migration' ? 250 : 20));
      const db = await createTestDatabase();
      databases.push(db);
      const label = `kill ${n}: ${point} (m${transactional}, +${jitterMs} ms)`;

      await killAt(db, dir, point, transactional, jitterMs);

      const history = (await db.sql<{ name: string }[]>`select name from migration_pipeline_history`).map(
        (row) => row.name,
      );
      // Transactional migrations: both tables and the history row, or none of them.
      for (const m of [2, 5]) {
        const [tables] = await db.sql<[{ a: boolean; b: boolean }]>`
          select to_regclass(${`m${m}_a`}) is not null as a, to_regclass(${`m${m}_b`}) is not null as b`;
        const recorded = history.includes(`00${m}-pair.mjs`);
        expect({ label, m, ...tables }).toEqual({ label, m, a: recorded, b: recorded });
      }
      // Where each kill landed, read from what it left behind.
      if (point === 'inside a transactional migration') {
        expect(history, label).not.toContain(`00${transactional}-pair.mjs`);
      } else if (point === 'between a migration and its history row') {
        expect(history, label).not.toContain('004-outside.mjs');
        expect(await db.sql`select to_regclass('m4') is not null as done`, label).toEqual([{ done: true }]);
      } else {
        expect(history, label).not.toContain('003-index.mjs');
      }
      hit.set(point, (hit.get(point) ?? 0) + 1);

      const result = await migrateUp({
        database: db.url,
        migrationsDir: dir,
        settings: resolveSettings({ lockWaitMs: 30_000 }),
      });
      expect(result.pending, label).toEqual([]);
      const status = await migrateStatus({ database: db.url, migrationsDir: dir });
      expect(status.applied, label).toHaveLength(5);
      expect(status.invalidIndexes, label).toEqual([]);
      const [index] =
        await db.sql`select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'big_v_idx'`;
      expect(index?.indisvalid, label).toBe(true);
    }
    expect(Object.fromEntries(hit)).toEqual({
      'inside a transactional migration': 7,
      'between a migration and its history row': 7,
      'inside a CREATE INDEX CONCURRENTLY build': 6,
    });
  }, 300_000);
});
