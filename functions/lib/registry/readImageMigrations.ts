import { posix } from 'node:path';
import { InvalidInput, MigrationsNotFound } from '../errors.ts';
import { applyLayers } from './applyLayers.ts';
import { type RegistryAccess, RegistryClient } from './distribution.ts';
import { indexLayer, type LayerIndex, parseLayerIndex } from './layerIndex.ts';
import { type Descriptor, invalid, readLabels, resolvePlatformManifest } from './manifest.ts';
import { formatImageReference, type ImageReference, parseImageReference } from './reference.ts';

export type { RegistryAccess, RegistryCredentials } from './distribution.ts';

/** The image label naming the migrations folder, when it is not the default. */
export const MIGRATIONS_PATH_LABEL = 'io.migration-pipeline.migrations';
export const DEFAULT_MIGRATIONS_PATH = '/app/migrations';

/** Where layer indexes are kept between reads (memory, a folder, the stack's bucket). */
export interface LayerIndexCache {
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
}

export interface ImageMigrations {
  /** The digest is the top manifest's the reference resolved to (the index when multi-platform): what gets deployed. */
  image: ImageReference & { digest: string };
  /** The platform manifest whose layers were read. */
  platformDigest: string;
  migrationsPath: string;
  /**
   * The files a release carries (isMigrationSourcePath): those directly in the folder and the
   * migration sources one level down, named by relative POSIX path (`20240101_init/migration.sql`), sorted.
   */
  files: { name: string; content: Buffer }[];
  layers: { digest: string; bytes: number; fromCache: boolean }[];
}

export interface ReadImageMigrationsOptions {
  access: RegistryAccess;
  cache?: LayerIndexCache;
  /** Where the migrations are when neither the override nor the image's label says; /app/migrations by default. */
  defaultPath?: string;
  /** A stack parameter or CLI flag: wins over the label. */
  pathOverride?: string;
}

/** Layers downloaded at once: enough to fill the network, few enough to bound the memory and the CPU. */
const PARALLEL_LAYERS = 3;

/**
 * Reads the migrations an image carries straight from its registry, without pulling or running it:
 * resolves the reference to its digest, picks a platform, reads the migrations path (override,
 * label, default) and stacks what each layer holds there. A layer's index is cached by its digest,
 * so an image sharing base layers with one read before downloads only its new layers.
 */
export async function readImageMigrations(
  ref: string | ImageReference,
  options: ReadImageMigrationsOptions,
): Promise<ImageMigrations> {
  const reference = parseImageReference(typeof ref === 'string' ? ref : formatImageReference(ref));
  const client = new RegistryClient(reference, options.access);
  const manifest = await resolvePlatformManifest(client);
  const labels = await readLabels(client, manifest.config);
  const migrationsPath = migrationsPathOf(options, labels[MIGRATIONS_PATH_LABEL], client.image);
  const layers = await mapWithConcurrency(manifest.layers, PARALLEL_LAYERS, (layer) =>
    layerIndexOf(client, layer, migrationsPath, options.cache),
  );
  const image = { ...reference, digest: manifest.topDigest };
  const files = applyLayers(
    layers.map((layer) => layer.index),
    migrationsPath,
    client.image,
  );
  if (files.length === 0) {
    const name = formatImageReference(image);
    throw new MigrationsNotFound(
      `The image ${name} has no migration files in ${migrationsPath}. Copy them there in the Dockerfile ` +
        `(COPY migrations/ ${migrationsPath}/), or name the folder they are in with the image label ` +
        `${MIGRATIONS_PATH_LABEL} or the stack's MigrationsPath parameter.`,
      { image: name, path: migrationsPath },
    );
  }
  return {
    image,
    platformDigest: manifest.platformDigest,
    migrationsPath,
    files,
    layers: layers.map(({ descriptor, fromCache }) => ({
      digest: descriptor.digest,
      bytes: descriptor.size,
      fromCache,
    })),
  };
}

async function layerIndexOf(
  client: RegistryClient,
  descriptor: Descriptor,
  folder: string,
  cache: LayerIndexCache | undefined,
): Promise<{ descriptor: Descriptor; index: LayerIndex; fromCache: boolean }> {
  // v2: indexes hold the folder's subfolders too; a v1 index of the same layer lacks them.
  const key = `layer-index/v2/${descriptor.digest}${folder}`;
  // The cache only saves downloads: one that fails or holds something unreadable costs a download, never the read.
  const cached = await cache?.get(key).catch(() => undefined);
  const index = cached === undefined ? undefined : parseLayerIndex(cached);
  if (index) return { descriptor, index, fromCache: true };
  const fresh = await indexLayer(client, descriptor, folder);
  await cache?.put(key, JSON.stringify(fresh)).catch(() => {});
  return { descriptor, index: fresh, fromCache: false };
}

function migrationsPathOf(
  options: ReadImageMigrationsOptions,
  label: string | undefined,
  image: string,
): string {
  const [path, refuse] =
    options.pathOverride !== undefined
      ? [
          options.pathOverride,
          (problem: string) =>
            new InvalidInput(`The migrations path ${problem}.`, { field: 'migrationsPath' }),
        ]
      : label !== undefined
        ? [
            label,
            (problem: string) =>
              invalid(
                image,
                `label ${MIGRATIONS_PATH_LABEL}`,
                `its label ${MIGRATIONS_PATH_LABEL} ${problem}.`,
              ),
          ]
        : [
            options.defaultPath ?? DEFAULT_MIGRATIONS_PATH,
            (problem: string) =>
              new InvalidInput(`The default migrations path ${problem}.`, { field: 'defaultPath' }),
          ];
  if (!path.startsWith('/') || path.includes('\0')) {
    throw refuse(`"${path}" is not an absolute path in the image; write it like /app/migrations`);
  }
  const normalized = posix.normalize(path).replace(/\/+$/, '');
  if (normalized === '')
    throw refuse('is the root of the image; name the folder the migrations are in, like /app/migrations');
  return normalized;
}

async function mapWithConcurrency<T, R>(
  items: readonly T[],
  size: number,
  map: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await map(items[i] as T);
      } catch (error) {
        // The read has failed: the other workers finish their layer but start no new one.
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  return results;
}
