import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { InvalidInput, MigrationInvalid } from '../errors.ts';

/** A migration file on disk. `name` is the file name, as ley names it and as the history records it. */
export interface MigrationFile {
  name: string;
  path: string;
  checksum: string;
}

/** ley's extensions, plus dbmate-style `.sql` files. Declaration files are not migrations. */
const MIGRATION_FILE = /^(?!.*\.d\.[cm]?ts$).*\.(?:[cm]?[jt]s|sql)$/;
/** The same extensions in any case: `002-x.SQL` is meant as a migration, and is refused rather than skipped. */
const MIGRATION_FILE_ANY_CASE = new RegExp(MIGRATION_FILE.source, 'i');

/** ley's order: by name, numbers compared as numbers, so `10-x` sorts after `9-x`. */
export function compareMigrationNames(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

/** Lists the migration files of a folder in the order they apply, each with the checksum of its source. */
export async function listMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const absoluteDir = resolve(dir);
  let entries: Dirent[];
  try {
    entries = (await readdir(absoluteDir, { withFileTypes: true })).filter((entry) =>
      MIGRATION_FILE_ANY_CASE.test(entry.name),
    );
  } catch (error) {
    throw new InvalidInput(
      `The migrations folder ${absoluteDir} cannot be read (${(error as NodeJS.ErrnoException).code}). ` +
        'Pass the right one with --dir.',
      { field: 'dir' },
      { cause: error },
    );
  }
  const names = entries.map((entry) => entry.name).sort(compareMigrationNames);
  refuseUpperCaseExtensions(names);
  refuseDuplicateVersions(names);
  const realDir = await realpath(absoluteDir);
  const files: MigrationFile[] = [];
  for (const name of names) {
    const path = await readablePath(realDir, join(absoluteDir, name), name);
    const source = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw refusal(name, `it cannot be read (${error.code ?? error.message}); fix its permissions.`);
    });
    files.push({ name, path, checksum: checksumOf(source) });
  }
  return files;
}

function refusal(name: string, problem: string): MigrationInvalid {
  return new MigrationInvalid(`${name}: ${problem}`, { migration: name, problem });
}

/** Larger than any schema change; a file past it is a data dump that belongs in a batched migration. */
export const MAX_MIGRATION_BYTES = 32 * 1024 * 1024;

/**
 * The path to read for a listed name: a regular file, or a symlink to one inside the folder (a link
 * leading out of it would not ship with the release). Anything else is refused, never skipped.
 */
async function readablePath(realDir: string, path: string, name: string): Promise<string> {
  const refuse = (problem: string) => refusal(name, problem);
  let target: string;
  try {
    target = await realpath(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw refuse(
        'it is a symbolic link in a loop (ELOOP). Point it at a file in the migrations folder or remove it.',
      );
    }
    if (code === 'ENOENT') {
      throw refuse(
        'it is a symbolic link to nothing. Point it at a file in the migrations folder or remove it.',
      );
    }
    throw refuse(`it cannot be read (${code}); fix its permissions.`);
  }
  if (!target.startsWith(realDir + sep)) {
    throw refuse(
      `it is a symbolic link to ${target}, outside the migrations folder, which a release would not carry. Copy the file into the folder.`,
    );
  }
  const info = await stat(target);
  if (!info.isFile()) {
    throw refuse('it is not a regular file. Migrations are files; rename or remove it.');
  }
  if (info.size > MAX_MIGRATION_BYTES) {
    throw refuse(
      `it is ${sizeOf(info.size)}, more than the ${sizeOf(MAX_MIGRATION_BYTES)} a migration may be. ` +
        'Load bulk data with a batched migration (inBatches) reading from storage, not inline.',
    );
  }
  return target;
}

/** In MiB when that tells it apart from the limit, else in bytes ("32 MiB, more than the 32 MiB" says nothing). */
function sizeOf(bytes: number): string {
  const mebibytes = bytes / 1024 / 1024;
  if (Number.isInteger(mebibytes)) return `${mebibytes} MiB`;
  if (Math.round(mebibytes) > MAX_MIGRATION_BYTES / 1024 / 1024) return `${Math.round(mebibytes)} MiB`;
  return `${bytes.toLocaleString('en')} bytes`;
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
