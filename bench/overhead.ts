import postgres from 'postgres';
import { type Migration, run, type Tool } from './peers.ts';
import { freshDatabase, median } from './support.ts';

export interface ToolTimings {
  tool: string;
  /** Applying `migrations` pending migrations from the command line, per migration. */
  msPerMigration: number;
  /** `up` again with all of them applied: nothing to do. */
  noOpMs: number;
  /** The tool's status with all of them applied; undefined when it has no status command. */
  statusMs: number | undefined;
}

export interface OverheadResult {
  migrations: number;
  runs: number;
  /** The same SQL as one batch in one client: what no tool can beat. */
  floorMsPerMigration: number;
  tools: ToolTimings[];
}

/**
 * `count` small migrations (`create table`) applied by each tool's own CLI from its own folder, on
 * a fresh database each time, `runs` rounds, medians reported; then, on the last round's database,
 * the no-op `up` and the status with all applied (median of 5 each). The floor is the same SQL as
 * one batch.
 */
export async function measureOverhead(
  adminUrl: string,
  tools: readonly Tool[],
  count = 500,
  runs = 5,
): Promise<OverheadResult> {
  const migrations: Migration[] = Array.from({ length: count }, (_, i) => ({
    up: `create table t${i} (id bigint primary key, note text)`,
    down: `drop table t${i}`,
  }));
  const floor: number[] = [];
  for (let i = 0; i < runs; i++) {
    const db = await freshDatabase(adminUrl);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const started = performance.now();
    await sql.begin((tx) => tx.unsafe(migrations.map((m) => m.up).join(';\n')));
    floor.push(performance.now() - started);
    await sql.end();
    await db.drop();
  }
  // Interleaved (each round runs every tool once), so that the disk's drift over the run (a commit
  // waits for its fsync) falls on every tool alike.
  const applied = new Map<Tool, number[]>(tools.map((tool) => [tool, []]));
  const noOp = new Map<Tool, number[]>();
  const status = new Map<Tool, number[]>();
  for (let i = 0; i < runs; i++) {
    for (const tool of tools) {
      const db = await freshDatabase(adminUrl);
      const cwd = await tool.write(migrations);
      applied.get(tool)?.push(await run(tool.up(cwd, db.url)));
      if (i === runs - 1) {
        noOp.set(tool, await repeat(5, () => run(tool.up(cwd, db.url))));
        const statusOf = tool.status;
        if (statusOf) status.set(tool, await repeat(5, () => run(statusOf(cwd, db.url))));
      }
      await db.drop();
    }
  }
  const results: ToolTimings[] = tools.map((tool) => {
    const statusTimes = status.get(tool);
    return {
      tool: tool.label,
      msPerMigration: median(applied.get(tool) ?? []) / count,
      noOpMs: median(noOp.get(tool) ?? []),
      statusMs: statusTimes ? median(statusTimes) : undefined,
    };
  });
  return { migrations: count, runs, floorMsPerMigration: median(floor) / count, tools: results };
}

export async function repeat(times: number, measure: () => Promise<number>): Promise<number[]> {
  const timings: number[] = [];
  for (let i = 0; i < times; i++) timings.push(await measure());
  return timings;
}
