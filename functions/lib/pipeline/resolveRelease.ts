import { packBundle } from '../bundle/bundle.ts';
import type { BundleStore } from '../bundle/store.ts';
import type { Release, ResolveEvent } from '../contract/events.ts';
import { type ResolvedImage, resolveImage } from '../deploy/image.ts';
import { ImageInvalid } from '../errors.ts';
import type { Log } from '../runtime.ts';
import type { MetricsRecorder } from './metrics.ts';

/** The migrations an image carries, as read from its registry (or, for a local run, from a folder). */
export interface ImageMigrationsRead {
  /** The digest the reference resolved to: what gets deployed. None when read from a local folder. */
  digest?: string;
  migrationsPath: string;
  files: { name: string; content: Buffer }[];
}

export interface ResolveDependencies {
  allowedRepository: string;
  readMigrations: (image: ResolvedImage) => Promise<ImageMigrationsRead>;
  store: BundleStore;
  log: Log;
  metrics: MetricsRecorder;
}

/**
 * The first step of a release: pins the image by digest and turns the migrations inside it into a
 * content-addressed bundle that every later step applies byte for byte. A tag moved afterwards
 * changes nothing: the release deploys the digest resolved here.
 */
export async function resolveRelease(event: ResolveEvent, deps: ResolveDependencies): Promise<Release> {
  const image = resolveImage(event.input.image, deps.allowedRepository);
  const read = await deps.readMigrations(image);
  if (image.digest && read.digest && read.digest !== image.digest) {
    throw new ImageInvalid(
      `The registry returned ${read.digest} for ${image.identifier}; refusing an image other than the one asked for.`,
      { image: image.identifier, problem: 'digest mismatch' },
    );
  }
  const digest = read.digest ?? image.digest;
  const { archive, ref } = packBundle(
    { image: { repository: image.repository, digest: digest ?? '' }, migrationsPath: read.migrationsPath },
    read.files,
  );
  await deps.store.put(ref, archive);
  deps.metrics.count('MigrationsInImage', ref.migrations);
  const uri = digest ? `${image.repository}@${digest}` : image.identifier;
  deps.log.info('Resolved the image and bundled its migrations', {
    image: uri,
    migrations: ref.migrations,
    bundle: ref.key,
  });
  return {
    image: { uri, ...(digest ? { digest } : {}), ...(image.tag ? { tag: image.tag } : {}) },
    bundle: ref,
    migrationsPath: read.migrationsPath,
  };
}
