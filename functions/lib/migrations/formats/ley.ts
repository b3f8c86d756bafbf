import type { MigrationFile } from '../files.ts';
import { type MigrationsFolder, readSource, refusal } from './folder.ts';

/** ley's extensions, plus dbmate-style `.sql` files. Declaration files are not migrations. */
const MIGRATION_FILE = /^(?!.*\.d\.[cm]?ts$).*\.(?:[cm]?[jt]s|sql)$/;
/** The same extensions in any case: `002-x.SQL` is meant as a migration, and is refused rather than skipped. */
const MIGRATION_FILE_ANY_CASE = new RegExp(MIGRATION_FILE.source, 'i');

/**
 * ley's order (`localeCompare` with `numeric`): by name, numbers compared as numbers, so `10-x`
 * sorts after `9-x`. One collator for every comparison: `localeCompare` with options builds one
 * per call, which made sorting 500 names the slowest part of a status.
 */
const compareMigrationNames = new Intl.Collator(undefined, { numeric: true }).compare;

/**
 * Whether a file directly in a folder would be read as a ley module or a dbmate SQL file. dbmate
 * reads only SQL files whose name starts with their version (`^\d+.*\.sql$`): a `schema.sql` beside
 * them is its schema dump, not a migration.
 */
export function isLeyMigrationName(name: string): boolean {
  return MIGRATION_FILE_ANY_CASE.test(name) && (!/\.sql$/i.test(name) || /^\d/.test(name));
}

/**
 * ley's layout, with dbmate's SQL files beside its modules: every module or `.sql` file directly in
 * the folder is a migration, named by its file name, in ley's order.
 */
export async function listLeyMigrations(folder: MigrationsFolder, names: string[]): Promise<MigrationFile[]> {
  const sorted = names.filter(isLeyMigrationName).sort(compareMigrationNames);
  refuseUpperCaseExtensions(sorted);
  refuseDuplicateVersions(sorted);
  const files: MigrationFile[] = [];
  for (const name of sorted) {
    const { path, checksum } = await readSource(folder, name);
    files.push({ name, path, checksum });
  }
  return files;
}

/** `002-x.SQL` would be skipped by name filters that are case-sensitive, as ley's are: refused instead. */
function refuseUpperCaseExtensions(names: readonly string[]): void {
  const misnamed = names.find((name) => !MIGRATION_FILE.test(name));
  if (!misnamed) return;
  const extension = misnamed.slice(misnamed.lastIndexOf('.'));
  throw refusal(
    misnamed,
    `its extension ${extension} is not lower case, so tools that read the folder would skip it. Rename it with ${extension.toLowerCase()}.`,
  );
}

/** Two files with the same number (`001-a.ts` and `001-b.sql`) have no defined order: refused. */
function refuseDuplicateVersions(names: readonly string[]): void {
  const byVersion = new Map<string, string>();
  for (const name of names) {
    const digits = /^\d+/.exec(name)?.[0];
    if (digits === undefined) continue;
    const version = BigInt(digits).toString();
    const other = byVersion.get(version);
    if (other) {
      throw refusal(
        name,
        `it has the same number as ${other}; their order is undefined. Renumber one of them (if one is applied, renumber the other).`,
      );
    }
    byVersion.set(version, name);
  }
}
