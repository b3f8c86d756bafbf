import type { MigrationFile } from '../files.ts';
import { checksumOf, type MigrationsFolder, readablePath, readSource, refusal } from './folder.ts';

/** golang-migrate's file names: `{version}_{title}.up.sql` and `{version}_{title}.down.sql`. */
const GOLANG_MIGRATE_FILE = /^(\d+)_(.*)\.(up|down)\.sql$/;

export function isGolangMigrateName(name: string): boolean {
  return GOLANG_MIGRATE_FILE.test(name);
}

/**
 * golang-migrate's layout: each version an up file and, optionally, a down file, ordered by version
 * as a number. The migration is named `{version}_{title}` after its up file (the down's title may
 * differ, as golang-migrate allows); its checksum is the up file's (the down is read when it runs).
 * A version with only a down file has an empty up, as golang-migrate applies it. A version without a
 * down is forward-only here (golang-migrate would step past it without undoing anything).
 */
export async function listGolangMigrateMigrations(
  folder: MigrationsFolder,
  names: string[],
): Promise<MigrationFile[]> {
  // Keyed by version and direction, as golang-migrate keys them: an up and a down may differ in title.
  const byVersion = new Map<bigint, { up?: string; down?: string }>();
  for (const name of names.filter((candidate) => candidate.endsWith('.sql'))) {
    const match = GOLANG_MIGRATE_FILE.exec(name);
    // golang-migrate skips what its name pattern does not parse (a seed file, a schema dump).
    if (!match) continue;
    const [, digits = '', , direction = 'up'] = match;
    const version = BigInt(digits);
    const entry = byVersion.get(version) ?? {};
    const other = entry[direction as 'up' | 'down'];
    if (other) {
      throw refusal(
        name,
        `it has the same version and direction as ${other}; golang-migrate refuses that too. Renumber one of them.`,
      );
    }
    entry[direction as 'up' | 'down'] = name;
    byVersion.set(version, entry);
  }
  const files: MigrationFile[] = [];
  for (const [, entry] of [...byVersion].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const named = (entry.up ?? entry.down) as string;
    const stem = named.replace(/\.(?:up|down)\.sql$/, '');
    const down = entry.down ? { downPath: await readablePath(folder, entry.down) } : {};
    if (!entry.up) {
      // golang-migrate applies a version without an up file as an empty migration.
      files.push({
        name: stem,
        path: down.downPath as string,
        checksum: checksumOf(''),
        plainSql: { format: 'golang-migrate', emptyUp: true, ...down },
      });
      continue;
    }
    const { path, checksum } = await readSource(folder, entry.up);
    files.push({ name: stem, path, checksum, plainSql: { format: 'golang-migrate', ...down } });
  }
  return files;
}
