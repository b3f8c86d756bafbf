import type { Dirent } from 'node:fs';
import type { MigrationFile } from '../files.ts';
import { type MigrationsFolder, readablePath, readSource, refusal, subfolderEntries } from './folder.ts';

export const PRISMA_LOCK_FILE = 'migration_lock.toml';
const MIGRATION_SQL = 'migration.sql';
/** Prisma's documented place for a hand-written or `migrate diff`-generated down of a migration. */
const DOWN_SQL = 'down.sql';

/** Whether a folder's entries look like Prisma's: its lock file, or subfolders holding migration.sql. */
export async function looksLikePrisma(folder: MigrationsFolder, entries: Dirent[]): Promise<boolean> {
  if (entries.some((entry) => entry.name === PRISMA_LOCK_FILE)) return true;
  for (const entry of entries) {
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    const inside = await subfolderEntries(folder, entry.name).catch(() => undefined);
    if (inside?.some((file) => file.name === MIGRATION_SQL)) return true;
  }
  return false;
}

/**
 * Prisma Migrate's layout: one subfolder per migration, named `<timestamp>_<name>`, holding
 * `migration.sql`, in the order of the folder names (files beside them are not migrations to Prisma,
 * nor here); the migration is named as its folder, as
 * `_prisma_migrations.migration_name` does. Prisma applies no downs; a `down.sql` beside
 * `migration.sql` (where Prisma's guide has `migrate diff` write one) is this migration's down.
 */
export async function listPrismaMigrations(
  folder: MigrationsFolder,
  entries: Dirent[],
): Promise<MigrationFile[]> {
  await refuseOtherProvider(folder, entries);
  const migrationFolders = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const files: MigrationFile[] = [];
  for (const name of migrationFolders) {
    const inside = (await subfolderEntries(folder, name)) ?? [];
    if (!inside.some((file) => file.name === MIGRATION_SQL)) {
      throw refusal(
        name,
        `it holds no ${MIGRATION_SQL}, so Prisma would fail on it too. Restore the file from version control or remove the folder.`,
      );
    }
    const { path, checksum } = await readSource(folder, `${name}/${MIGRATION_SQL}`);
    const down = inside.some((file) => file.name === DOWN_SQL)
      ? await readablePath(folder, `${name}/${DOWN_SQL}`)
      : undefined;
    files.push({
      name,
      path,
      checksum,
      plainSql: { format: 'prisma', ...(down ? { downPath: down } : {}) },
    });
  }
  return files;
}

/** A lock file naming another database means the SQL was written for it: refused before it runs here. */
async function refuseOtherProvider(folder: MigrationsFolder, entries: Dirent[]): Promise<void> {
  if (!entries.some((entry) => entry.name === PRISMA_LOCK_FILE)) return;
  const { text } = await readSource(folder, PRISMA_LOCK_FILE);
  const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(text)?.[1];
  if (provider !== undefined && provider !== 'postgresql' && provider !== 'postgres') {
    throw refusal(
      PRISMA_LOCK_FILE,
      `it says these migrations were written for ${provider}, not PostgreSQL. Point --dir at a PostgreSQL project's migrations.`,
    );
  }
}
