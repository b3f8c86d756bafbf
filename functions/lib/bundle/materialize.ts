import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { BundleInvalid } from '../errors.ts';
import { type BundleManifest, type BundleRef, parseManifest, sha256Of, unpackBundle } from './bundle.ts';
import type { BundleStore } from './store.ts';

/** Written last into a cached bundle's folder: a folder without it was never finished and is not used. */
export const COMPLETE_MARKER = '.complete';
/** Lambda's /tmp is 512 MB by default and shared with the function's other work: a few bundles are plenty. */
export const MAX_CACHED_BUNDLES = 3;
/** Lambda's longest invocation: an unfinished folder older than this has no writer left. */
const ABANDONED_AFTER_MS = 15 * 60_000;
const SHA256_HEX = /^[a-f0-9]{64}$/;

/**
 * The folder holding a bundle's migrations, byte for byte as the manifest lists them. A warm Lambda
 * environment keeps the unpacked copy under cacheRoot/<sha256>/ and reuses it once its files are
 * checked; otherwise the bundle is fetched, verified, and written into a new folder that takes its
 * place in one rename.
 */
export async function materializeBundle(
  store: BundleStore,
  ref: BundleRef,
  cacheRoot: string = join(tmpdir(), 'migration-bundles'),
): Promise<{ dir: string; manifest: BundleManifest; fromCache: boolean }> {
  // The hash names a folder: anything but hex digits could point outside the cache.
  if (!SHA256_HEX.test(ref.sha256)) {
    throw new BundleInvalid(`${JSON.stringify(ref.sha256)} is not a bundle's SHA-256 (64 hex digits).`, {
      key: ref.key,
      problem: 'bad content address',
    });
  }
  const folder = join(cacheRoot, ref.sha256);
  const dir = join(folder, 'migrations');
  const cached = await readCachedCopy(folder, ref.sha256);
  if (cached) {
    const now = new Date();
    await utimes(join(folder, COMPLETE_MARKER), now, now); // last use, for eviction
    return { dir, manifest: cached, fromCache: true };
  }

  const { manifest, files } = unpackBundle(await store.get(ref), ref.sha256);
  await mkdir(cacheRoot, { recursive: true });
  const partial = await mkdtemp(join(cacheRoot, '.partial-'));
  try {
    await mkdir(join(partial, 'migrations'));
    for (const file of files) {
      // Names are checked relative POSIX paths (unpackBundle): their parts are folders to make.
      const path = join(partial, 'migrations', ...file.name.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.content);
    }
    await writeFile(join(partial, 'manifest.json'), JSON.stringify(manifest));
    await writeFile(join(partial, COMPLETE_MARKER), ref.sha256);
    await placeCopy(partial, folder, ref.sha256);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  await evictOldBundles(cacheRoot, ref.sha256);
  return { dir, manifest, fromCache: false };
}

/**
 * Moves the finished copy into place. Another process sharing the cache (local runs, tests) may
 * have placed the same bundle meanwhile: its copy may be in use, so it is kept, never removed; only
 * an unfinished or altered copy is moved aside (in one rename) and replaced.
 */
async function placeCopy(partial: string, folder: string, sha256: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(partial, folder);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      if (await readCachedCopy(folder, sha256)) return;
      if (attempt > 0) throw error;
      const aside = `${folder}.stale-${process.pid}-${Date.now()}`;
      await rename(folder, aside).then(
        () => rm(aside, { recursive: true, force: true }),
        () => {}, // moved or replaced by another process meanwhile: try again
      );
    }
  }
}

/** The manifest of a finished copy whose files are still exactly the ones it lists; nothing otherwise. */
async function readCachedCopy(folder: string, sha256: string): Promise<BundleManifest | undefined> {
  try {
    if ((await readFile(join(folder, COMPLETE_MARKER), 'utf8')) !== sha256) return undefined;
    const manifest = parseManifest(
      await readFile(join(folder, 'manifest.json')),
      (problem) => new Error(problem),
    );
    const files = await filesBelow(join(folder, 'migrations'));
    if (files === undefined || files.length !== manifest.migrations.length) return undefined;
    const listed = new Set(manifest.migrations.map((migration) => migration.name));
    if (files.some((name) => !listed.has(name))) return undefined;
    for (const migration of manifest.migrations) {
      const content = await readFile(join(folder, 'migrations', ...migration.name.split('/')));
      if (sha256Of(content) !== migration.sha256) return undefined;
    }
    return manifest;
  } catch {
    return undefined; // missing or unreadable: fetched again
  }
}

/**
 * The files under `dir` at any depth, as relative POSIX paths; undefined when it holds a link or a
 * device, which no copy this module wrote does.
 */
async function filesBelow(dir: string): Promise<string[] | undefined> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isDirectory()) continue;
    if (!entry.isFile()) return undefined;
    files.push(relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
  }
  return files;
}

/** Keeps the bundles used last (the current one always), and drops folders no writer will finish. */
async function evictOldBundles(cacheRoot: string, current: string): Promise<void> {
  const finished: { name: string; usedAt: number }[] = [];
  for (const name of await readdir(cacheRoot)) {
    const usedAt = await stat(join(cacheRoot, name, COMPLETE_MARKER)).then(
      (marker) => marker.mtimeMs,
      () => undefined,
    );
    if (usedAt !== undefined && SHA256_HEX.test(name)) {
      if (name !== current) finished.push({ name, usedAt });
      continue;
    }
    const age = await stat(join(cacheRoot, name)).then(
      (entry) => Date.now() - entry.mtimeMs,
      () => 0, // removed meanwhile by another process sharing the cache
    );
    if (age > ABANDONED_AFTER_MS) await rm(join(cacheRoot, name), { recursive: true, force: true });
  }
  const stale = finished.sort((a, b) => b.usedAt - a.usedAt).slice(MAX_CACHED_BUNDLES - 1);
  for (const { name } of stale) await rm(join(cacheRoot, name), { recursive: true, force: true });
}
