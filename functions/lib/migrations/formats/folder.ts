import { createHash } from 'node:crypto';
import { type Dirent, readdirSync, readFileSync, realpathSync, type Stats, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { InvalidInput, MigrationInvalid } from '../../errors.ts';

/** Larger than any schema change; a file past it is a data dump that belongs in a batched migration. */
export const MAX_MIGRATION_BYTES = 32 * 1024 * 1024;

/**
 * A folder being read: where it was asked for and where it really is (symbolic links resolved).
 *
 * The reads here are synchronous on purpose: a folder is hundreds of small files, and each
 * asynchronous call is a trip through libuv's thread pool (a status of 500 migrations spent most
 * of its time waiting on them). No caller serves other work meanwhile: a CLI command, or a Lambda
 * handling one event.
 */
export interface MigrationsFolder {
  dir: string;
  realDir: string;
}

/** SHA-256 of the source with line endings normalised, so a checkout with CRLF endings is not drift. */
export function checksumOf(source: string): string {
  return createHash('sha256').update(source.replace(/\r\n/g, '\n')).digest('hex');
}

export function refusal(name: string, problem: string): MigrationInvalid {
  return new MigrationInvalid(`${name}: ${problem}`, { migration: name, problem });
}

/** Opens the migrations folder, or says which flag names the right one. */
export async function openFolder(dir: string): Promise<MigrationsFolder & { entries: Dirent[] }> {
  const absoluteDir = resolve(dir);
  try {
    const entries = readdirSync(absoluteDir, { withFileTypes: true });
    return { dir: absoluteDir, realDir: realpathSync.native(absoluteDir), entries };
  } catch (error) {
    throw new InvalidInput(
      `The migrations folder ${absoluteDir} cannot be read (${(error as NodeJS.ErrnoException).code}). ` +
        'Pass the right one with --dir.',
      { field: 'dir' },
      { cause: error },
    );
  }
}

/**
 * Refuses a symbolic link to a folder among `entries`: a release reads the image's layers, where a
 * linked folder's files are not under the migrations path, so a local run must not see them either.
 */
export async function refuseLinkedFolders(folder: MigrationsFolder, entries: Dirent[]): Promise<void> {
  for (const entry of entries.filter((candidate) => candidate.isSymbolicLink())) {
    if (statOrNothing(join(folder.dir, entry.name))?.isDirectory()) {
      throw refusal(
        entry.name,
        'it is a symbolic link to a folder, which a release does not carry out of an image. Make it a real folder.',
      );
    }
  }
}

/** The entries of a subfolder, or undefined when it is not one (a file, or nothing). */
export async function subfolderEntries(
  folder: MigrationsFolder,
  name: string,
): Promise<Dirent[] | undefined> {
  const path = join(folder.dir, name);
  const info = statOrNothing(path);
  if (!info?.isDirectory()) return undefined;
  insideFolder(folder, path, name);
  return readdirSync(path, { withFileTypes: true });
}

/** What a path leads to, or nothing where it leads nowhere (missing, a loop, unreadable): the readers say which. */
function statOrNothing(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** A migration's source read from the folder: the path to read, its text and its checksum. */
export interface SourceFile {
  path: string;
  text: string;
  checksum: string;
}

/**
 * Reads a file of the folder (`name` relative to it): a regular file, or a symbolic link to one
 * inside the folder (a link leading out of it would not ship with the release). Anything else is
 * refused, never skipped.
 */
export async function readSource(folder: MigrationsFolder, name: string): Promise<SourceFile> {
  const path = await readablePath(folder, name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw refusal(name, `it cannot be read (${code ?? message}); fix its permissions.`);
  }
  return { path, text, checksum: checksumOf(text) };
}

/** The path to read for a listed name, checked as `readSource` describes. */
export async function readablePath(folder: MigrationsFolder, name: string): Promise<string> {
  const target = insideFolder(folder, join(folder.dir, name), name);
  const info = statSync(target);
  if (!info.isFile()) {
    throw refusal(name, 'it is not a regular file. Migrations are files; rename or remove it.');
  }
  if (info.size > MAX_MIGRATION_BYTES) {
    throw refusal(
      name,
      `it is ${sizeOf(info.size)}, more than the ${sizeOf(MAX_MIGRATION_BYTES)} a migration may be. ` +
        'Load bulk data with a batched migration (inBatches) reading from storage, not inline.',
    );
  }
  return target;
}

/** Where a path really leads, refused when that is nowhere, a loop, or outside the folder. */
function insideFolder(folder: MigrationsFolder, path: string, name: string): string {
  let target: string;
  try {
    target = realpathSync.native(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw refusal(
        name,
        'it is a symbolic link in a loop (ELOOP). Point it at a file in the migrations folder or remove it.',
      );
    }
    if (code === 'ENOENT') {
      throw refusal(
        name,
        'it is a symbolic link to nothing. Point it at a file in the migrations folder or remove it.',
      );
    }
    throw refusal(name, `it cannot be read (${code}); fix its permissions.`);
  }
  if (!target.startsWith(folder.realDir + sep)) {
    throw refusal(
      name,
      `it is a symbolic link to ${target}, outside the migrations folder, which a release would not carry. Copy the file into the folder.`,
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
