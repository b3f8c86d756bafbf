import { ECRClient } from '@aws-sdk/client-ecr';
import { s3LayerIndexCache } from '../lib/bundle/s3LayerIndexCache.ts';
import { bundleS3Client, readBundleStore } from '../lib/bundleStoreConfig.ts';
import { readAllowedRepository, readMigrationsPath } from '../lib/config.ts';
import { parseResolveEvent } from '../lib/contract/events.ts';
import { log, once, pipelineHandler } from '../lib/lambda.ts';
import { resolveRelease } from '../lib/pipeline/resolveRelease.ts';
import { ecrCredentials } from '../lib/registry/ecrCredentials.ts';
import { memoryLayerCache } from '../lib/registry/memoryLayerCache.ts';
import { readImageMigrations } from '../lib/registry/readImageMigrations.ts';

const config = once(() => ({
  allowedRepository: readAllowedRepository(process.env),
  store: readBundleStore(process.env),
  pathOverride: readMigrationsPath(process.env),
  credentials: ecrCredentials(new ECRClient({})),
  // Layers are immutable by digest: what each holds under the migrations path is kept in the bucket,
  // so the base layers of an image are read once, not on every release.
  cache: process.env.BUNDLE_BUCKET
    ? s3LayerIndexCache(bundleS3Client(process.env), process.env.BUNDLE_BUCKET)
    : memoryLayerCache(),
}));

/** Pins the image by digest and bundles the migrations inside it for the later steps. Outside the VPC. */
export const handler = pipelineHandler('resolve-image', async (event, _context, metrics) => {
  const request = parseResolveEvent(event);
  const { allowedRepository, store, pathOverride, credentials, cache } = config();
  return resolveRelease(request, {
    allowedRepository,
    store,
    log,
    metrics,
    readMigrations: (image) =>
      readImageMigrations(image.identifier, {
        access: { credentials, allowPlainHttpOnLoopback: true },
        cache,
        ...(pathOverride ? { pathOverride } : {}),
      }).then((read) => ({
        digest: read.image.digest,
        migrationsPath: read.migrationsPath,
        files: read.files,
      })),
  });
});
