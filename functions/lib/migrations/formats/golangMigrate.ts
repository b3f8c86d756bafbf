import type { MigrationFile } from '../files.ts';
import { type MigrationsFolder, readablePath, readSource, refusal } from './folder.ts';

/** golang-migrate's file names: `{version}_{title}.up.sql` and `{version}_{title}.down.sql`. */
const GOLANG_MIGRATE_FILE = /^(\d+)_(.*)\.(up|down)\.sql$/;

export function isGolangMigrateName(name: string): boolean {
  return GOLANG_MIGRATE_FILE.test(name);
}

/**
 * golang-migrate's layout: each version an up file and, optionally, a down file, ordered by version
 * as a number. The migration is named `{version}_{title}`, as the files are without their suffixes;
 * its checksum is the up file's (the down is read when it runs). Its files are plain SQL, which
 * golang-migrate sends in one piece: a file wrapped in `BEGIN; … COMMIT;` is one transaction, and
 * runs as the engine's own.
 */
export async function listGolangMigrateMigrations(
  folder: MigrationsFolder,
  names: string[],
): Promise<MigrationFile[]> {
  const byVersion = new Map<bigint, { stem: string; up?: string; down?: string }>();
  for (const name of names.filter((candidate) => candidate.endsWith('.sql'))) {
    const match = GOLANG_MIGRATE_FILE.exec(name);
    if (!match) {
      throw refusal(
        name,
        'in a golang-migrate folder every SQL file is named {version}_{title}.up.sql or .down.sql; golang-migrate would not run this one. Rename it or move it out of the folder.',
      );
    }
    const [, digits = '', title = '', direction] = match;
    const version = BigInt(digits);
    const stem = `${digits}_${title}`;
    const entry = byVersion.get(version) ?? { stem };
    if (entry.stem !== stem) {
      throw refusal(
        name,
        `it has the same version as ${entry.up ?? entry.down}; golang-migrate refuses duplicate versions. Renumber one of them.`,
      );
    }
    if (direction === 'up') entry.up = name;
    else entry.down = name;
    byVersion.set(version, entry);
  }
  const files: MigrationFile[] = [];
  for (const [, entry] of [...byVersion].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!entry.up) {
      throw refusal(
        entry.down as string,
        `it has no ${entry.stem}.up.sql beside it; a down without its up cannot be applied. Add the up file or remove this one.`,
      );
    }
    const { path, checksum } = await readSource(folder, entry.up);
    files.push({
      name: entry.stem,
      path,
      checksum,
      plainSql: {
        format: 'golang-migrate',
        unwrapTransaction: true,
        ...(entry.down ? { downPath: await readablePath(folder, entry.down) } : {}),
      },
    });
  }
  return files;
}
