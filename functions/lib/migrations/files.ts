import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidInput } from '../errors.ts';
import { parseSqlMigration } from './sqlFile.ts';
import type { MigrationModule } from './types.ts';

/** A migration file on disk. `name` is the file name, as ley names it and as the history records it. */
export interface MigrationFile {
  name: string;
  path: string;
  checksum: string;
}

/** ley's extensions, plus dbmate-style `.sql` files. Declaration files are not migrations. */
const MIGRATION_FILE = /^(?!.*\.d\.[cm]?ts$).*\.(?:[cm]?[jt]s|sql)$/;

/** ley's order: by name, numbers compared as numbers, so `10-x` sorts after `9-x`. */
export function compareMigrationNames(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** Lists the migration files of a folder in the order they apply, each with the checksum of its source. */
export async function listMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const absoluteDir = resolve(dir);
  let entries: string[];
  try {
    entries = (await readdir(absoluteDir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && MIGRATION_FILE.test(entry.name))
      .map((entry) => entry.name);
  } catch (error) {
    throw new InvalidInput(
      `The migrations folder ${absoluteDir} cannot be read (${(error as NodeJS.ErrnoException).code}). ` +
        'Pass the right one with --dir.',
      { field: 'dir' },
      { cause: error },
    );
  }
  entries.sort(compareMigrationNames);
  return Promise.all(
    entries.map(async (name) => {
      const path = join(absoluteDir, name);
      return { name, path, checksum: checksumOf(await readFile(path, 'utf8')) };
    }),
  );
}

/** SHA-256 of the source with line endings normalised, so a checkout with CRLF endings is not drift. */
export function checksumOf(source: string): string {
  return createHash('sha256').update(source.replace(/\r\n/g, '\n')).digest('hex');
}

/** Matches a migration by file name, with or without its extension (`--to 006-x` or `--to 006-x.ts`). */
export function findMigration<T extends { name: string }>(files: readonly T[], name: string): T | undefined {
  return files.find((file) => file.name === name || stripExtension(file.name) === name);
}

export function stripExtension(name: string): string {
  return name.replace(/\.[^.]+$/, '');
}

/**
 * Loads a migration: a `.sql` file is parsed into its sections; a module is imported (ESM or
 * CommonJS, `.ts` through Node's type stripping), exactly as ley loads it.
 */
export async function loadMigration(file: MigrationFile): Promise<MigrationModule> {
  if (file.name.endsWith('.sql')) return parseSqlMigration(file.name, await readFile(file.path, 'utf8'));
  const imported = (await import(pathToFileURL(file.path).href)) as Record<string, unknown>;
  // ley's interop: a CommonJS module arrives as `default`.
  const exports = (
    typeof imported.up === 'function' || typeof imported.down === 'function'
      ? imported
      : (imported.default ?? imported)
  ) as Record<string, unknown>;
  if (typeof exports.up !== 'function') {
    throw new InvalidInput(`Migration ${file.name} does not export an up(sql) function.`, {
      field: file.name,
    });
  }
  return {
    up: exports.up as MigrationModule['up'],
    down: typeof exports.down === 'function' ? (exports.down as MigrationModule['down']) : undefined,
    transaction: exports.transaction !== false,
  };
}
