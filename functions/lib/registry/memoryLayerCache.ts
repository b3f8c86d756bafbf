import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerIndexCache } from './readImageMigrations.ts';

/** Layer indexes kept for the life of the process: a warm Lambda or one CLI run reads each base layer once. */
export function memoryLayerCache(): LayerIndexCache {
  const entries = new Map<string, string>();
  return {
    get: async (key) => entries.get(key),
    put: async (key, value) => {
      entries.set(key, value);
    },
  };
}

/**
 * Layer indexes in a folder, one file per key (named by the key's hash: keys hold colons and
 * slashes), so that repeated CLI runs read an image's base layers once. A missing or unreadable
 * entry is a miss; an index is written under a temporary name and renamed, so no reader sees half of one.
 */
export function directoryLayerCache(dir: string): LayerIndexCache {
  const fileOf = (key: string) => join(dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  return {
    get: (key) => readFile(fileOf(key), 'utf8').catch(() => undefined),
    async put(key, value) {
      await mkdir(dir, { recursive: true });
      const file = fileOf(key);
      const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temporary, value);
      await rename(temporary, file);
    },
  };
}
