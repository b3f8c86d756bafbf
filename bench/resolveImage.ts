import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { memoryLayerCache } from '../functions/lib/registry/memoryLayerCache.ts';
import { readImageMigrations } from '../functions/lib/registry/readImageMigrations.ts';
import { ImageLayout, type LayerBlob } from '../test/support/imageLayout.ts';
import { startRegistry } from '../test/support/registry.ts';

export interface ResolveImageRun {
  /** Compressed size of the image's layers: what a cold read downloads. */
  imageBytes: number;
  migrations: number;
  /** Reading the image with an empty layer cache. */
  coldMs: number;
  /** Reading a newer image (same base layers, one more migration) right after. */
  warmMs: number;
  layers: number;
}

const BASE_LAYERS = 4;
const FILES_PER_LAYER = 5;
const FILE_BYTES = 25 * 1024 * 1024;
const MIGRATIONS = 200;

/**
 * The resolve step's read of a 500 MB image (four 125 MB base layers of incompressible data, gzip
 * level 1, and a top layer with 200 migrations) from a loopback docker-registry: cold, then warm for
 * the next release (a new image sharing the base layers with one more migration). Needs
 * docker-registry, skopeo and tar on PATH; uses about 1 GB of disk while it runs.
 */
export async function measureResolveImage(): Promise<ResolveImageRun> {
  const registry = await startRegistry();
  try {
    const layout = await ImageLayout.create();
    let imageBytes: number;
    let layers: number;
    try {
      const base: LayerBlob[] = [];
      for (let i = 0; i < BASE_LAYERS; i++) base.push(await addRandomLayer(layout, i));
      const release = await layout.addLayer({ files: migrations(MIGRATIONS) });
      const next = await layout.addLayer({ files: migrations(MIGRATIONS + 1) });
      const image = [...base, release];
      imageBytes = image.reduce((total, layer) => total + layer.size, 0);
      layers = image.length;
      await layout.push(registry.host, 'bench', 'v1', await layout.addImage({}, image));
      await layout.push(registry.host, 'bench', 'v2', await layout.addImage({}, [...base, next]));
    } finally {
      await layout.remove();
    }
    const cache = memoryLayerCache();
    const read = async (tag: string) => {
      const started = performance.now();
      const result = await readImageMigrations(`${registry.host}/bench:${tag}`, {
        access: { allowPlainHttpOnLoopback: true },
        cache,
      });
      return { ms: performance.now() - started, result };
    };
    const cold = await read('v1');
    const warm = await read('v2');
    if (cold.result.files.length !== MIGRATIONS || warm.result.files.length !== MIGRATIONS + 1) {
      throw new Error(`read ${cold.result.files.length} and ${warm.result.files.length} migrations`);
    }
    if (warm.result.layers.filter((layer) => !layer.fromCache).length !== 1) {
      throw new Error('the warm read downloaded more than its new layer');
    }
    return { imageBytes, migrations: MIGRATIONS, coldMs: cold.ms, warmMs: warm.ms, layers };
  } finally {
    await registry.stop();
  }
}

/** A layer of files of AES-CTR keystream: incompressible, deterministic, and fast to make. */
async function addRandomLayer(layout: ImageLayout, index: number): Promise<LayerBlob> {
  const directory = await mkdtemp(join(tmpdir(), 'bench-layer-'));
  try {
    await mkdir(join(directory, 'usr', 'lib', `base${index}`), { recursive: true });
    for (let file = 0; file < FILES_PER_LAYER; file++) {
      const key = createHash('sha256').update(`layer ${index} file ${file}`).digest();
      const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
      await pipeline(
        Readable.from(zeros(FILE_BYTES)),
        cipher,
        createWriteStream(join(directory, 'usr', 'lib', `base${index}`, `blob${file}.bin`)),
      );
    }
    return await layout.addLayer({ directory, gzipLevel: 1 });
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function* zeros(total: number): Generator<Buffer> {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let left = total; left > 0; left -= chunk.length)
    yield left >= chunk.length ? chunk : chunk.subarray(0, left);
}

/** `count` migrations of a kilobyte or so each, as a real project's folder holds. */
function migrations(count: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 1; i <= count; i++) {
    const name = String(i).padStart(4, '0');
    files[`app/migrations/${name}-table-${i}.sql`] =
      `create table t${i} (\n  id bigint generated always as identity primary key,\n` +
      `${Array.from({ length: 20 }, (_, column) => `  c${column} text not null default ''`).join(',\n')}\n);\n`;
  }
  return files;
}
