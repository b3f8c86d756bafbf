import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { BundleInvalid, MigrationInvalid } from '../errors.ts';
import { MAX_SOURCE_DEPTH } from '../migrations/formats/sources.ts';
import { fitsUstarHeader, readTar, TarError, writeTar } from './tar.ts';

/** What a bundle holds: where its migrations were read from, and each one's name, checksum and size. */
export interface BundleManifest {
  formatVersion: 1;
  image: { repository: string; digest: string };
  /** The path in the image the migrations were read from. */
  migrationsPath: string;
  /** Sorted by name: a path relative to the migrations folder (`001.sql`, `20240101_init/migration.sql`). */
  migrations: { name: string; sha256: string; bytes: number }[];
}

/** A bundle by its content address: the SHA-256 of its archive, and its key in a bundle store. */
export interface BundleRef {
  sha256: string;
  key: string;
  migrations: number;
}

export interface BundleFile {
  name: string;
  content: Buffer;
}

const MANIFEST_PATH = 'manifest.json';
/** Migrations sit under their own folder in the archive, so that no migration name can collide with the manifest. */
const MIGRATIONS_FOLDER = 'migrations/';
/** What a ustar header holds: a file name of 100 bytes, under a folder path of 155 (`migrations/` in it). */
const MAX_NAME_BYTES = 100;
const MAX_FOLDER_BYTES = 155 - MIGRATIONS_FOLDER.length;
const SHA256_HEX = /^[a-f0-9]{64}$/;

const manifestSchema = z.strictObject({
  formatVersion: z.literal(1),
  image: z.strictObject({ repository: z.string(), digest: z.string() }),
  migrationsPath: z.string(),
  migrations: z.array(
    z.strictObject({
      name: z.string(),
      sha256: z.string().check(z.regex(SHA256_HEX)),
      bytes: z.number().check(z.int(), z.gte(0)),
    }),
  ),
});

export function bundleKey(sha256: string): string {
  return `bundles/${sha256}.tar`;
}

/**
 * Packs migrations into a bundle whose bytes depend on nothing but the manifest and the files: a tar
 * with manifest.json first, then the files sorted by name, mode 0644, owner 0:0, mtime 0.
 */
export function packBundle(
  source: Omit<BundleManifest, 'migrations' | 'formatVersion'>,
  files: BundleFile[],
): { archive: Buffer; ref: BundleRef; manifest: BundleManifest } {
  // Code-unit order, not localeCompare: the content address must not depend on the ICU data of a Node build.
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const folders = foldersOf(sorted.map((file) => file.name));
  sorted.forEach((file, index) => {
    const problem =
      nameProblem(file.name) ??
      (sorted[index - 1]?.name === file.name ? 'is listed twice' : null) ??
      folderConflict(file.name, folders);
    if (problem) {
      const message = `The migration file name ${JSON.stringify(file.name)} ${problem}; rename it.`;
      throw new MigrationInvalid(message, { migration: file.name, problem });
    }
  });
  // Built field by field, so that the manifest's bytes do not depend on the caller's objects.
  const manifest: BundleManifest = {
    formatVersion: 1,
    image: { repository: source.image.repository, digest: source.image.digest },
    migrationsPath: source.migrationsPath,
    migrations: sorted.map((file) => ({
      name: file.name,
      sha256: sha256Of(file.content),
      bytes: file.content.length,
    })),
  };
  const archive = writeTar([
    { path: MANIFEST_PATH, content: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
    ...sorted.map((file) => ({ path: MIGRATIONS_FOLDER + file.name, content: file.content })),
  ]);
  const sha256 = sha256Of(archive);
  return { archive, ref: { sha256, key: bundleKey(sha256), migrations: sorted.length }, manifest };
}

/**
 * Unpacks a bundle fetched from a store. Its SHA-256 is checked first, then every file against the
 * manifest: names that could leave the folder, duplicates, extra or missing files are refused.
 */
export function unpackBundle(
  archive: Buffer,
  expectedSha256: string,
): { manifest: BundleManifest; files: BundleFile[] } {
  const key = bundleKey(expectedSha256);
  if (!SHA256_HEX.test(expectedSha256)) {
    throw new BundleInvalid(`${JSON.stringify(expectedSha256)} is not a bundle's SHA-256 (64 hex digits).`, {
      key,
      problem: 'bad content address',
    });
  }
  const actual = sha256Of(archive);
  if (actual !== expectedSha256) {
    throw new BundleInvalid(
      `The bundle ${key} does not match its content address (its SHA-256 is ${actual}): it was damaged or ` +
        'replaced in the bundle store. Start the release again from the image: its first step writes the bundle anew.',
      { key, problem: 'sha256 mismatch' },
    );
  }
  const refuse = (problem: string) =>
    new BundleInvalid(
      `The bundle ${key} is not one this pipeline writes (${problem}). Start the release again from the image.`,
      { key, problem },
    );
  let entries: ReturnType<typeof readTar>;
  try {
    entries = readTar(archive);
  } catch (error) {
    if (error instanceof TarError) throw refuse(`unreadable archive: ${error.message}`);
    throw error;
  }
  const [first, ...rest] = entries;
  if (first?.path !== MANIFEST_PATH) throw refuse(`its first entry is not ${MANIFEST_PATH}`);
  const manifest = parseManifest(first.content, refuse);

  const expected = new Map(manifest.migrations.map((migration) => [migration.name, migration]));
  const files = new Map<string, Buffer>();
  for (const entry of rest) {
    if (!entry.path.startsWith(MIGRATIONS_FOLDER))
      throw refuse(`unexpected entry ${JSON.stringify(entry.path)}`);
    const name = entry.path.slice(MIGRATIONS_FOLDER.length);
    const problem = nameProblem(name);
    if (problem) throw refuse(`the file name ${JSON.stringify(name)} ${problem}`);
    if (files.has(name)) throw refuse(`${name} is in the archive twice`);
    const listed = expected.get(name);
    if (!listed) throw refuse(`${name} is not in the manifest`);
    if (entry.content.length !== listed.bytes || sha256Of(entry.content) !== listed.sha256) {
      throw refuse(`${name} does not match the checksum in the manifest`);
    }
    files.set(name, entry.content);
  }
  const missing = manifest.migrations.filter((migration) => !files.has(migration.name));
  if (missing.length > 0) throw refuse(`missing ${missing.map((migration) => migration.name).join(', ')}`);
  return {
    manifest,
    files: manifest.migrations.map(({ name }) => ({ name, content: files.get(name) as Buffer })),
  };
}

/** Reads a manifest.json: the one in an archive, or the copy a cache keeps next to the unpacked files. */
export function parseManifest(json: Buffer, refuse: (problem: string) => Error): BundleManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    throw refuse('its manifest is not JSON');
  }
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    'formatVersion' in parsed &&
    parsed.formatVersion !== 1
  ) {
    throw refuse(
      `manifest format ${String(parsed.formatVersion)}, written by another version of the pipeline`,
    );
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) throw refuse('its manifest does not have the expected fields');
  const names = result.data.migrations.map((migration) => migration.name);
  const folders = foldersOf(names);
  for (const [index, name] of names.entries()) {
    const problem = nameProblem(name) ?? folderConflict(name, folders);
    if (problem) throw refuse(`the manifest names a file ${JSON.stringify(name)} that ${problem}`);
    const previous = names[index - 1];
    if (previous !== undefined && previous >= name)
      throw refuse('the manifest is not sorted by name without repeats');
  }
  return result.data as BundleManifest;
}

export function sha256Of(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * Why a name cannot be a migration's path in a bundle, if it cannot: a file is written at that path
 * under the folder the engine reads, so it is a relative POSIX path of at most MAX_SOURCE_DEPTH
 * parts, none of which may climb out, be empty, or read as a separator on another system.
 */
function nameProblem(name: string): string | null {
  if (name === '' || name === '.' || name === '..') return 'is not a file name';
  if (name.includes('\\')) return "contains '\\', which some systems read as a folder separator";
  if (name.includes('\0')) return 'contains a NUL character';
  const parts = name.split('/');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') {
      return `has a part ${JSON.stringify(part)} that is not a folder or file name`;
    }
  }
  if (parts.length > MAX_SOURCE_DEPTH) {
    return `is more than ${MAX_SOURCE_DEPTH} levels deep; a release carries a folder's files and its subfolders' only`;
  }
  if (!fitsUstarHeader(MIGRATIONS_FOLDER + name)) {
    return `is too long for the bundle (a file name of at most ${MAX_NAME_BYTES} bytes, in a folder of at most ${MAX_FOLDER_BYTES})`;
  }
  return null;
}

/** The folders the named files lie in, at every level. */
function foldersOf(names: readonly string[]): Set<string> {
  const folders = new Set<string>();
  for (const name of names) {
    for (let slash = name.indexOf('/'); slash > 0; slash = name.indexOf('/', slash + 1)) {
      folders.add(name.slice(0, slash));
    }
  }
  return folders;
}

/** A file cannot also be the folder of other files: no disk could hold both. */
function folderConflict(name: string, folders: ReadonlySet<string>): string | null {
  return folders.has(name) ? 'is also the folder of other files' : null;
}
