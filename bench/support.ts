import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { type LocalServer, startEmbeddedPostgres } from '../cli/local/embeddedPostgres.ts';

/** The server the benchmarks run on: DATABASE_URL, or a fresh embedded PostgreSQL. */
export async function benchServer(): Promise<{ url: string; version: string; stop(): Promise<void> }> {
  let server: LocalServer | undefined;
  let dir: string | undefined;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = await mkdtemp(join(tmpdir(), 'migration-pipeline-bench-'));
    server = await startEmbeddedPostgres({ dir, persistent: false });
    url = server.url;
  }
  const sql = postgres(url, { max: 1 });
  const [row] = await sql<{ version: string }[]>`select current_setting('server_version') as version`;
  await sql.end();
  return {
    url,
    version: row?.version ?? '?',
    async stop() {
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh database on the bench server; dropped by the returned function. */
export async function freshDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const cleanup = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      await cleanup.end();
    },
  };
}

/** Writes ESM migrations (ley's format) into a fresh folder. */
export async function writeMigrations(files: Record<string, { up: string; down: string }>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-migrations-'));
  for (const [name, { up, down }] of Object.entries(files)) {
    await writeFile(
      join(dir, name),
      `export async function up(sql) { await sql.unsafe(${JSON.stringify(up)}); }\nexport async function down(sql) { await sql.unsafe(${JSON.stringify(down)}); }\n`,
    );
  }
  return dir;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export const round = (value: number, digits = 2) => Number(value.toFixed(digits));
