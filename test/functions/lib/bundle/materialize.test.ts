import { mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BundleRef, packBundle } from '../../../../functions/lib/bundle/bundle.ts';
import { COMPLETE_MARKER, materializeBundle } from '../../../../functions/lib/bundle/materialize.ts';
import { type BundleStore, directoryBundleStore } from '../../../../functions/lib/bundle/store.ts';
import { BundleInvalid } from '../../../../functions/lib/errors.ts';
import { DIGEST, REPOSITORY } from '../../../support/aws.ts';

const SOURCE = { image: { repository: REPOSITORY, digest: DIGEST }, migrationsPath: '/app/migrations' };
const filesOf = (version: number) => [
  { name: '001-a.sql', content: Buffer.from(`create table a (v${version} int);\n`) },
  { name: '002-b.mjs', content: Buffer.from('export const up = (sql) => sql`select 1`;\n') },
];

/** A real folder store that counts its gets, so that a test sees whether the cache was used. */
function countingStore(store: BundleStore): BundleStore & { gets: number } {
  const counted = {
    describe: store.describe,
    gets: 0,
    put: (ref: BundleRef, archive: Buffer) => store.put(ref, archive),
    get: (ref: BundleRef) => {
      counted.gets += 1;
      return store.get(ref);
    },
  };
  return counted;
}

async function expectFiles(dir: string, files: { name: string; content: Buffer }[]): Promise<void> {
  expect((await readdir(dir)).sort()).toEqual(files.map((file) => file.name));
  for (const file of files) expect((await readFile(join(dir, file.name))).equals(file.content)).toBe(true);
}

describe('materializeBundle', () => {
  let root: string;
  let cacheRoot: string;
  let store: ReturnType<typeof countingStore>;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'materialize-'));
    cacheRoot = join(root, 'cache');
    store = countingStore(directoryBundleStore(join(root, 'store')));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const stored = async (version = 1) => {
    const bundle = packBundle(SOURCE, filesOf(version));
    await store.put(bundle.ref, bundle.archive);
    return bundle;
  };

  it('writes the verified migrations into a folder, then reuses that folder without fetching again', async () => {
    const { ref, manifest } = await stored();
    const first = await materializeBundle(store, ref, cacheRoot);
    expect(first).toEqual({ dir: join(cacheRoot, ref.sha256, 'migrations'), manifest, fromCache: false });
    await expectFiles(first.dir, filesOf(1));
    expect(store.gets).toBe(1);

    const second = await materializeBundle(store, ref, cacheRoot);
    expect(second).toEqual({ ...first, fromCache: true });
    expect(store.gets).toBe(1);
    await expectFiles(second.dir, filesOf(1));
  });

  it('serves several callers unpacking the same bundle at once (runs sharing a cache), never removing a copy in use', async () => {
    const { ref } = await stored();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => materializeBundle(store, ref, cacheRoot)),
    );
    for (const result of results) await expectFiles(result.dir, filesOf(1));
    expect(new Set(results.map((result) => result.dir)).size).toBe(1);
  });

  it('does not reuse a folder left without its marker (a write cut short), and replaces it', async () => {
    const { ref } = await stored();
    // Every file and the manifest in place: only the marker, written last, is missing.
    const { dir } = await materializeBundle(store, ref, cacheRoot);
    await rm(join(cacheRoot, ref.sha256, COMPLETE_MARKER));
    const result = await materializeBundle(store, ref, cacheRoot);
    expect(result.fromCache).toBe(false);
    expect(store.gets).toBe(2);
    expect(result.dir).toBe(dir);
    await expectFiles(result.dir, filesOf(1));
    expect(await readFile(join(cacheRoot, ref.sha256, COMPLETE_MARKER), 'utf8')).toBe(ref.sha256);
  });

  it('does not reuse a finished folder whose migration was changed since', async () => {
    const { ref } = await stored();
    const { dir } = await materializeBundle(store, ref, cacheRoot);
    await writeFile(join(dir, '001-a.sql'), 'drop table a;\n');
    const result = await materializeBundle(store, ref, cacheRoot);
    expect(result.fromCache).toBe(false);
    await expectFiles(result.dir, filesOf(1));
  });

  describe('a bundle with subfolders', () => {
    const nested = [
      { name: '0000_init.sql', content: Buffer.from('create table a ();\n') },
      { name: '20240101_init/migration.sql', content: Buffer.from('create table b ();\n') },
      { name: 'meta/_journal.json', content: Buffer.from('{"entries":[]}\n') },
      { name: 'migration_lock.toml', content: Buffer.from('provider = "postgresql"\n') },
    ];
    const storedNested = async () => {
      const bundle = packBundle(SOURCE, nested);
      await store.put(bundle.ref, bundle.archive);
      return bundle;
    };
    const filesUnder = async (dir: string) =>
      (await readdir(dir, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
        .sort();

    it('writes the subfolders, and reuses the copy while it holds exactly those files', async () => {
      const { ref } = await storedNested();
      const first = await materializeBundle(store, ref, cacheRoot);
      expect(await filesUnder(first.dir)).toEqual(nested.map((file) => file.name));
      for (const file of nested) {
        expect((await readFile(join(first.dir, file.name))).equals(file.content)).toBe(true);
      }
      expect((await materializeBundle(store, ref, cacheRoot)).fromCache).toBe(true);
      expect(store.gets).toBe(1);
    });

    it.each([
      ['a file changed in a subfolder', (dir: string) => writeFile(join(dir, 'meta', '_journal.json'), '{}')],
      [
        'a file added to a subfolder',
        (dir: string) => writeFile(join(dir, 'meta', '0000_snapshot.json'), '{}'),
      ],
      [
        'a file moved into another subfolder',
        async (dir: string) => {
          await mkdir(join(dir, 'other'));
          await rename(join(dir, '20240101_init', 'migration.sql'), join(dir, 'other', 'migration.sql'));
        },
      ],
    ])('does not reuse the copy after %s', async (_, alter) => {
      const { ref } = await storedNested();
      const { dir } = await materializeBundle(store, ref, cacheRoot);
      await alter(dir);
      const result = await materializeBundle(store, ref, cacheRoot);
      expect(result.fromCache).toBe(false);
      expect(await filesUnder(result.dir)).toEqual(nested.map((file) => file.name));
    });
  });

  it('keeps nothing of a bundle that does not verify', async () => {
    const { ref } = await stored();
    await writeFile(join(root, 'store', ref.key), 'not the bundle');
    await expect(materializeBundle(store, ref, cacheRoot)).rejects.toThrow(BundleInvalid);
    expect(await readdir(cacheRoot).catch(() => [])).toEqual([]);
  });

  it('refuses a content address that could name a folder outside the cache, without fetching', async () => {
    const ref = { sha256: '../../etc', key: 'bundles/../../etc.tar', migrations: 0 };
    await expect(materializeBundle(store, ref, cacheRoot)).rejects.toThrow(BundleInvalid);
    expect(store.gets).toBe(0);
  });

  it('keeps the three bundles used last, and drops folders abandoned half-written', async () => {
    const refs: BundleRef[] = [];
    for (const version of [1, 2, 3]) {
      const { ref } = await stored(version);
      await materializeBundle(store, ref, cacheRoot);
      refs.push(ref);
    }
    const [first, second, third] = refs as [BundleRef, BundleRef, BundleRef];
    // The first is used again last but one; the second becomes the one used longest ago.
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    await utimes(join(cacheRoot, third.sha256, COMPLETE_MARKER), minutesAgo(3), minutesAgo(3));
    await utimes(join(cacheRoot, second.sha256, COMPLETE_MARKER), minutesAgo(5), minutesAgo(5));
    await utimes(join(cacheRoot, first.sha256, COMPLETE_MARKER), minutesAgo(9), minutesAgo(9));
    expect((await materializeBundle(store, first, cacheRoot)).fromCache).toBe(true);
    await mkdir(join(cacheRoot, '.partial-abandoned'));
    await utimes(join(cacheRoot, '.partial-abandoned'), minutesAgo(20), minutesAgo(20));
    await mkdir(join(cacheRoot, '.partial-in-progress'));

    const { ref: fourth } = await stored(4);
    await materializeBundle(store, fourth, cacheRoot);
    expect((await readdir(cacheRoot)).sort()).toEqual(
      ['.partial-in-progress', first.sha256, third.sha256, fourth.sha256].sort(),
    );
  });
});
