import postgres from 'postgres';
import { migrateUp } from '../functions/lib/migrations/index.ts';
import { freshDatabase, ley, leyConfig, median, writeMigrations } from './support.ts';

export interface OverheadResult {
  migrations: number;
  runs: number;
  oursMsPerMigration: number;
  leyMsPerMigration: number;
  floorMsPerMigration: number;
}

/**
 * 500 small migrations applied three ways, on fresh databases: ours (a transaction, checksum and
 * history row per migration), stock ley (one transaction for all, its own driver), and the floor (the
 * same SQL as one batch). Each way runs `runs` times on its own copy of the files; medians reported.
 */
export async function measureOverhead(adminUrl: string, count = 500, runs = 3): Promise<OverheadResult> {
  const files = Object.fromEntries(
    Array.from({ length: count }, (_, i) => [
      `${String(i + 1).padStart(4, '0')}-t${i}.mjs`,
      { up: `create table t${i} (id bigint primary key, note text)`, down: `drop table t${i}` },
    ]),
  );
  const statements = Object.values(files).map((file) => file.up);
  const timings = { ours: [] as number[], ley: [] as number[], floor: [] as number[] };
  for (let run = 0; run < runs; run++) {
    for (const way of ['floor', 'ley', 'ours'] as const) {
      const db = await freshDatabase(adminUrl);
      // Each run gets its own files: Node caches imported modules, which would favour the second tool.
      const dir = await writeMigrations(files);
      const started = performance.now();
      if (way === 'ours') {
        await migrateUp({ database: db.url, migrationsDir: dir });
      } else if (way === 'ley') {
        await ley.up({ cwd: dir, dir: '.', driver: 'postgres', config: leyConfig(db.url) });
      } else {
        const sql = postgres(db.url, { max: 1, onnotice: () => {} });
        await sql.begin((tx) => tx.unsafe(statements.join(';\n')));
        await sql.end();
      }
      timings[way].push(performance.now() - started);
      await db.drop();
    }
  }
  return {
    migrations: count,
    runs,
    oursMsPerMigration: median(timings.ours) / count,
    leyMsPerMigration: median(timings.ley) / count,
    floorMsPerMigration: median(timings.floor) / count,
  };
}
