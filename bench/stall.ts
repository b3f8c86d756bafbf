import postgres from 'postgres';
import { run, type Tool } from './peers.ts';
import { freshDatabase } from './support.ts';

export interface StallRun {
  /** The tool's label; the floor runs no migration. */
  tool: string;
  /** The longest any app query took. */
  worstMs: number;
  /** The time app clients spent in queries slower than 100 ms, summed over clients. */
  slowClientSeconds: number;
  /** App queries per second while the blocker was open. */
  throughputQps: number;
  failedQueries: number;
  queries: number;
  /** When the migration finished, counted from the blocker's commit. */
  appliedAfterBlockerMs: number;
  /** [seconds since start, slowest query latency in ms] per 100 ms bucket, for the chart. */
  timeline: [number, number][];
  blocker: { fromS: number; toS: number };
}

export interface StallOptions {
  rows: number;
  blockerMs: number;
  clients: number;
}

const ADD_COLUMN = [
  { up: 'alter table accounts add column note text', down: 'alter table accounts drop column note' },
];

/**
 * A table under steady read/write load (a few clients on loopback, bounded), a session holding a
 * transaction open on it for `blockerMs`, and a migration adding a column, started 1 s into it
 * with the tool's own CLI on its own folder. Without a tool: the same load and blocker, no
 * migration (the floor).
 */
export async function measureStall(
  adminUrl: string,
  tool: Tool | undefined,
  options: StallOptions,
): Promise<StallRun> {
  const db = await freshDatabase(adminUrl);
  const setup = postgres(db.url, { max: 1, onnotice: () => {} });
  await setup`create table accounts (id int primary key, balance bigint not null default 0, updated_at timestamptz)`;
  await setup`insert into accounts (id) select generate_series(1, ${options.rows})`;
  await setup`vacuum analyze accounts`;
  await setup.end();
  const cwd = await tool?.write(ADD_COLUMN);

  const app = postgres(db.url, { max: options.clients, onnotice: () => {} });
  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;
  const samples: [number, number][] = [];
  let failedQueries = 0;
  let running = true;
  const client = async (seed: number) => {
    // Bounded: at most this many queries per client, whatever happens.
    for (let i = 0; running && i < 200_000; i++) {
      const id = ((i * 7919 + seed * 104_729) % options.rows) + 1;
      const at = performance.now();
      try {
        if (i % 2) await app`update accounts set balance = balance + 1, updated_at = now() where id = ${id}`;
        else await app`select balance from accounts where id = ${id}`;
      } catch {
        failedQueries++;
      }
      samples.push([(at - started) / 1000, performance.now() - at]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const clients = Array.from({ length: options.clients }, (_, i) => client(i));

  await sleep(1000);
  const blocker = postgres(db.url, { max: 1, onnotice: () => {} });
  const blockerFrom = elapsedS();
  let blockerTo = 0;
  const blocking = blocker.begin(async (tx) => {
    await tx`select count(*) from accounts`;
    await sleep(options.blockerMs);
    blockerTo = elapsedS();
  });
  await sleep(1000);
  const migration = tool && cwd ? run(tool.up(cwd, db.url)).then(elapsedS) : Promise.resolve(elapsedS());
  await blocking;
  const appliedAt = await migration;
  await sleep(2000);
  running = false;
  await Promise.all(clients);
  await Promise.all([app.end(), blocker.end()]);
  await db.drop();

  const duringBlocker = samples.filter(([at]) => at >= blockerFrom && at < blockerTo);
  return {
    tool: tool?.label ?? 'no migration (the floor)',
    worstMs: Math.max(...samples.map(([, ms]) => ms)),
    slowClientSeconds: samples.filter(([, ms]) => ms > 100).reduce((sum, [, ms]) => sum + ms / 1000, 0),
    throughputQps: duringBlocker.length / (blockerTo - blockerFrom),
    failedQueries,
    queries: samples.length,
    appliedAfterBlockerMs: tool ? Math.max(0, (appliedAt - blockerTo) * 1000) : 0,
    timeline: bucket(samples, 0.1),
    blocker: { fromS: blockerFrom, toS: blockerTo },
  };
}

function bucket(samples: [number, number][], widthS: number): [number, number][] {
  const buckets = new Map<number, number>();
  for (const [at, ms] of samples) {
    const key = Math.floor(at / widthS);
    buckets.set(key, Math.max(buckets.get(key) ?? 0, ms));
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([key, ms]) => [key * widthS, ms]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
