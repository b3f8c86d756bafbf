import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateStatus, migrateUp, resolveSettings } from '../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir } from '../support/migrationsDir.ts';

/** Each transactional migration creates two tables with a pause between: killed in between, both or neither must exist. */
const pair = (n: number) => `
export async function up(sql) {
  await sql\`create table m${n}_a (id int)\`;
  await sql\`select pg_sleep(0.04)\`;
  await sql\`create table m${n}_b (id int)\`;
}
export async function down(sql) { await sql\`drop table m${n}_b\`; await sql\`drop table m${n}_a\`; }
`;
const concurrentIndex = `
export const transaction = false;
export async function up(sql) { await sql\`create index concurrently if not exists big_v_idx on big (v)\`; }
export async function down(sql) { await sql\`drop index concurrently if exists big_v_idx\`; }
`;
const FILES = {
  '001-big.mjs': `
export async function up(sql) { await sql\`create table big (id int, v int)\`; await sql\`insert into big select g, g % 1000 from generate_series(1, 300000) g\`; }
export async function down(sql) { await sql\`drop table big\`; }`,
  '002-pair.mjs': pair(2),
  '003-index.mjs': concurrentIndex,
  '004-pair.mjs': pair(4),
  '005-pair.mjs': pair(5),
};

function seeded(seed: number) {
  let state = seed;
  return () => {
    state = (state * 48_271) % 2_147_483_647;
    return state / 2_147_483_647;
  };
}

/** Runs `migrate up` in its own process and kills it with SIGKILL after `afterMs`. */
async function killedRun(databaseUrl: string, dir: string, afterMs: number): Promise<void> {
  const child: ChildProcess = spawn(
    process.execPath,
    [resolve('cli/bin.ts'), 'migrate', 'up', '--dir', dir, '--json'],
    {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: 'ignore',
    },
  );
  const exited = new Promise((done) => child.on('exit', done));
  await new Promise((done) => setTimeout(done, afterMs));
  child.kill('SIGKILL');
  await exited;
}

describe('kill -9 of a migrate process at 20 random points', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await migrationsDir(FILES);
  });
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.drop()));
  });

  it('never leaves a transactional migration half-applied, and the next run converges', async () => {
    const next = seeded(20_261_124);
    for (let point = 0; point < 20; point++) {
      const db = await createTestDatabase();
      databases.push(db);
      const afterMs = Math.round(250 + next() * 900);
      await killedRun(db.url, dir, afterMs);

      const history = (
        await db.sql<{ name: string }[]>`select name from migration_pipeline_history`.catch(() => [])
      ).map((row) => row.name);
      for (const n of [2, 4, 5]) {
        const [tables] = await db.sql<[{ a: boolean; b: boolean }]>`
          select to_regclass(${`m${n}_a`}) is not null as a, to_regclass(${`m${n}_b`}) is not null as b`;
        const recorded = history.includes(`00${n}-pair.mjs`);
        expect({ point, afterMs, n, ...tables, recorded }).toEqual({
          point,
          afterMs,
          n,
          a: recorded,
          b: recorded,
          recorded,
        });
      }

      const result = await migrateUp({
        database: db.url,
        migrationsDir: dir,
        settings: resolveSettings({ lockWaitMs: 30_000 }),
      });
      expect(result.pending, `point ${point} at ${afterMs} ms`).toEqual([]);
      const status = await migrateStatus({ database: db.url, migrationsDir: dir });
      expect(status.applied).toHaveLength(5);
      expect(status.invalidIndexes, `point ${point} at ${afterMs} ms`).toEqual([]);
      const [index] =
        await db.sql`select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = 'big_v_idx'`;
      expect(index?.indisvalid).toBe(true);
    }
  }, 240_000);
});
