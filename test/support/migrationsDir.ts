import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Writes migration files into a fresh folder and returns its path. */
export async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
  await addMigrations(dir, files);
  return dir;
}

export async function addMigrations(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, source] of Object.entries(files)) {
    // Names may hold a subfolder, as other tools' layouts do (`<migration>/migration.sql`).
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), source);
  }
}

/** An ESM migration module with the given up and down SQL (down omitted when undefined). */
export function sqlModule(up: string, down?: string, extra = ''): string {
  return [
    extra,
    `export async function up(sql) { await sql.unsafe(${JSON.stringify(up)}); }`,
    down === undefined
      ? ''
      : `export async function down(sql) { await sql.unsafe(${JSON.stringify(down)}); }`,
  ].join('\n');
}
