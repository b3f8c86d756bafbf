import type { Dirent } from 'node:fs';
import { MigrationInvalid } from '../../errors.ts';
import type { MigrationFile } from '../files.ts';
import { listDrizzleMigrations } from './drizzle.ts';
import { isFlywayName, listFlywayMigrations } from './flyway.ts';
import { type MigrationsFolder, openFolder, refuseLinkedFolders, subfolderEntries } from './folder.ts';
import { isGolangMigrateName, listGolangMigrateMigrations } from './golangMigrate.ts';
import { isLeyMigrationName, listLeyMigrations } from './ley.ts';
import { listPrismaMigrations, looksLikePrisma } from './prisma.ts';

/** The folder layouts the engine reads as they are. `ley` includes dbmate's `.sql` files beside ley's modules. */
export type MigrationFormat = 'ley' | 'prisma' | 'drizzle' | 'flyway' | 'golang-migrate';

/** How each layout is described to a person (status lines, `init`, errors). */
export const FORMAT_DESCRIPTIONS: Record<MigrationFormat, string> = {
  ley: 'ley modules and dbmate SQL files (NNN-name.ts / .sql with -- migrate:up and -- migrate:down)',
  prisma: 'Prisma Migrate (<timestamp>_<name>/migration.sql, forward-only)',
  drizzle: 'drizzle-kit (NNNN_<name>.sql in the order of meta/_journal.json, forward-only)',
  flyway: 'Flyway (V<version>__<name>.sql, with U<version>__<name>.sql as downs)',
  'golang-migrate': 'golang-migrate (<version>_<name>.up.sql and .down.sql)',
};

/** A migrations folder read: its layout and its migrations in the order they apply. */
export interface MigrationsListing {
  format: MigrationFormat;
  files: MigrationFile[];
}

/**
 * Reads a migrations folder in whichever layout it has, told from the folder itself: Drizzle's
 * journal, Prisma's lock file or migration subfolders, Flyway's or golang-migrate's file names,
 * else ley's and dbmate's files. Nothing is converted; a folder mixing two layouts is refused,
 * since no order between them is defined.
 */
export async function readMigrationsFolder(dir: string): Promise<MigrationsListing> {
  const folder = await openFolder(dir);
  await refuseLinkedFolders(folder, folder.entries);
  const format = await detectFormat(folder, folder.entries);
  const names = folder.entries.map((entry) => entry.name);
  switch (format) {
    case 'drizzle':
      return { format, files: await listDrizzleMigrations(folder, names) };
    case 'prisma':
      return { format, files: await listPrismaMigrations(folder, folder.entries) };
    case 'flyway':
      return { format, files: await listFlywayMigrations(folder, folder.entries) };
    case 'golang-migrate':
      return { format, files: await listGolangMigrateMigrations(folder, names) };
    case 'ley':
      return { format, files: await listLeyMigrations(folder, names) };
  }
}

/** The layout of a folder (see `readMigrationsFolder`), without reading its migrations. */
export async function detectMigrationFormat(dir: string): Promise<MigrationFormat> {
  const folder = await openFolder(dir);
  return detectFormat(folder, folder.entries);
}

async function detectFormat(folder: MigrationsFolder, entries: Dirent[]): Promise<MigrationFormat> {
  const found: { format: MigrationFormat; evidence: string }[] = [];
  const meta = entries.find((entry) => entry.name === 'meta');
  if (meta && (await subfolderEntries(folder, 'meta'))?.some((entry) => entry.name === '_journal.json')) {
    // The journal lists the migrations; drizzle-kit writes its schema.ts and relations.ts beside them.
    return 'drizzle';
  }
  if (await looksLikePrisma(folder, entries)) {
    found.push({ format: 'prisma', evidence: 'migration folders holding migration.sql' });
  }
  const files = entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name);
  const flyway =
    files.find(isFlywayName) ?? (found.length === 0 ? await flywayBelow(folder, entries) : undefined);
  if (flyway) found.push({ format: 'flyway', evidence: flyway });
  const golang = files.find(isGolangMigrateName);
  if (golang) found.push({ format: 'golang-migrate', evidence: golang });
  const module = files.find((name) => isLeyMigrationName(name) && !name.endsWith('.sql'));
  if (module) found.push({ format: 'ley', evidence: module });
  const [first, second] = found;
  if (second && first) {
    throw new MigrationInvalid(
      `The migrations folder ${folder.dir} mixes two layouts: ${first.evidence} is ${FORMAT_DESCRIPTIONS[first.format]}, ` +
        `${second.evidence} is ${FORMAT_DESCRIPTIONS[second.format]}. Their order is undefined; keep one layout per folder.`,
      { migration: second.evidence, problem: 'mixed layouts' },
    );
  }
  return first?.format ?? 'ley';
}

/** A Flyway script one folder down (Flyway reads its location's subfolders), if there is one. */
async function flywayBelow(folder: MigrationsFolder, entries: Dirent[]): Promise<string | undefined> {
  for (const entry of entries.filter((candidate) => candidate.isDirectory())) {
    const script = (await subfolderEntries(folder, entry.name))?.find((file) => isFlywayName(file.name));
    if (script) return `${entry.name}/${script.name}`;
  }
  return undefined;
}
