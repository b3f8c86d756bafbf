import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  directoryLayerCache,
  memoryLayerCache,
} from '../../../../functions/lib/registry/memoryLayerCache.ts';
import {
  type LayerIndexCache,
  readImageMigrations,
} from '../../../../functions/lib/registry/readImageMigrations.ts';
import { ImageLayout, pushImage } from '../../../support/imageLayout.ts';
import {
  ENABLE_REGISTRY_TESTS,
  type Registry,
  registryToolsAvailable,
  startRegistry,
} from '../../../support/registry.ts';

const available = registryToolsAvailable();
const title = `layer index cache and moving tags on a real registry${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

describe.skipIf(!available)(title, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** A fetch that counts the blob downloads (the layers and configs) it lets through. */
  function countingFetch() {
    const blobGets: string[] = [];
    const counted: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes('/blobs/')) blobGets.push(url.replace(/^.*\/blobs\//, ''));
      return fetch(input, init);
    };
    return { fetch: counted, blobGets };
  }

  const read = (ref: string, cache: LayerIndexCache, fetchBlobs: typeof fetch = fetch) =>
    readImageMigrations(ref, { access: { allowPlainHttpOnLoopback: true, fetch: fetchBlobs }, cache });

  async function pushReleases(repository: string) {
    const layout = await ImageLayout.create();
    try {
      const base = [
        await layout.addLayer({ files: { 'usr/lib/big': 'base one' } }),
        await layout.addLayer({ files: { 'app/migrations/001.sql': 'one', 'app/server.js': 'v1' } }),
      ];
      const v1Top = await layout.addLayer({ files: { 'app/migrations/002.sql': 'two' } });
      const v2Top = await layout.addLayer({ files: { 'app/migrations/003.sql': 'three' } });
      const v1 = await layout.push(
        registry.host,
        repository,
        'v1',
        await layout.addImage({}, [...base, v1Top]),
      );
      const v2 = await layout.push(
        registry.host,
        repository,
        'v2',
        await layout.addImage({}, [...base, v2Top]),
      );
      return { v1, v2, base, v2Top };
    } finally {
      await layout.remove();
    }
  }

  it('reads the base layers once: a second image sharing them downloads only its new layer', async () => {
    const { base, v2Top } = await pushReleases('cached');
    const cache = memoryLayerCache();
    const cold = await read(`${registry.host}/cached:v1`, cache);
    expect(cold.layers.map((layer) => layer.fromCache)).toEqual([false, false, false]);
    const counting = countingFetch();
    const warm = await read(`${registry.host}/cached:v2`, cache, counting.fetch);
    expect(warm.layers.map((layer) => layer.fromCache)).toEqual([true, true, false]);
    const layerDigests = new Set([...base, v2Top].map((layer) => layer.digest));
    expect(counting.blobGets.filter((digest) => layerDigests.has(digest))).toEqual([v2Top.digest]);
    expect(warm.files.map((file) => file.name)).toEqual(['001.sql', '003.sql']);
  });

  it('keeps layer indexes in a folder across processes, and reads a layer again when its entry is unreadable', async () => {
    const { base } = await pushReleases('on-disk');
    const dir = await mkdtemp(join(tmpdir(), 'layer-cache-'));
    try {
      await read(`${registry.host}/on-disk:v1`, directoryLayerCache(dir));
      expect(await readdir(dir)).toHaveLength(3);
      const again = await read(`${registry.host}/on-disk:v1`, directoryLayerCache(dir));
      expect(again.layers.every((layer) => layer.fromCache)).toBe(true);
      for (const name of await readdir(dir)) await writeFile(join(dir, name), '{"not":"an index"}');
      const counting = countingFetch();
      const reread = await read(`${registry.host}/on-disk:v1`, directoryLayerCache(dir), counting.fetch);
      expect(reread.layers.every((layer) => !layer.fromCache)).toBe(true);
      expect(counting.blobGets).toEqual(expect.arrayContaining(base.map((layer) => layer.digest)));
      expect(reread.files.map((file) => file.name)).toEqual(['001.sql', '002.sql']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps subfolders in cached indexes, and never uses one cached before they were carried (v1)', async () => {
    const layout = await ImageLayout.create();
    let digest: string;
    try {
      const layer = await layout.addLayer({
        files: { 'app/migrations/001.sql': 'one', 'app/migrations/20240101_init/migration.sql': 'init' },
      });
      digest = layer.digest;
      await layout.push(registry.host, 'nested', 'v1', await layout.addImage({}, [layer]));
    } finally {
      await layout.remove();
    }
    const cache = memoryLayerCache();
    // What a reader of flat folders cached for this layer: a sound index in its day, without the subfolder.
    await cache.put(
      `layer-index/v1/${digest}/app/migrations`,
      JSON.stringify({
        hidesLower: false,
        removedPaths: [],
        pathKinds: { '/app': 'directory', '/app/migrations': 'directory' },
        deleted: [],
        entries: [['001.sql', { type: 'file', content: Buffer.from('one').toString('base64') }]],
      }),
    );
    const cold = await read(`${registry.host}/nested:v1`, cache);
    expect(cold.layers.map((entry) => entry.fromCache)).toEqual([false]);
    expect(cold.files.map((file) => file.name)).toEqual(['001.sql', '20240101_init/migration.sql']);
    const warm = await read(`${registry.host}/nested:v1`, cache);
    expect(warm.layers.map((entry) => entry.fromCache)).toEqual([true]);
    expect(warm.files).toEqual(cold.files);
  });

  it('indexes a layer per migrations path: another path in the same image is read afresh', async () => {
    await pushImage(registry.host, 'two-paths', 'v1', {
      layers: [{ files: { 'app/migrations/001.sql': 'app', 'opt/other/100.sql': 'other' } }],
    });
    const cache = memoryLayerCache();
    await read(`${registry.host}/two-paths:v1`, cache);
    const other = await readImageMigrations(`${registry.host}/two-paths:v1`, {
      access: { allowPlainHttpOnLoopback: true },
      cache,
      pathOverride: '/opt/other',
    });
    expect(other.layers.map((layer) => layer.fromCache)).toEqual([false]);
    expect(other.files.map((file) => file.name)).toEqual(['100.sql']);
  });

  it('follows a tag moved to another image, and still reads the old image by its digest', async () => {
    const cache = memoryLayerCache();
    const first = await pushImage(registry.host, 'moving', 'release', {
      layers: [{ files: { 'app/migrations/001.sql': 'one' } }],
    });
    const before = await read(`${registry.host}/moving:release`, cache);
    expect(before.image.digest).toBe(first);
    const second = await pushImage(registry.host, 'moving', 'release', {
      layers: [{ files: { 'app/migrations/001.sql': 'one', 'app/migrations/002.sql': 'two' } }],
    });
    expect(second).not.toBe(first);
    const after = await read(`${registry.host}/moving:release`, cache);
    expect(after.image.digest).toBe(second);
    expect(after.files.map((file) => file.name)).toEqual(['001.sql', '002.sql']);
    const pinned = await read(`${registry.host}/moving@${first}`, cache);
    expect(pinned.image).toMatchObject({ digest: first });
    expect(pinned.files.map((file) => file.name)).toEqual(['001.sql']);
  });
});
