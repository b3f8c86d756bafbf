import { S3Client } from '@aws-sdk/client-s3';
import { materializeBundle } from './bundle/materialize.ts';
import { s3BundleStore } from './bundle/s3Store.ts';
import { type BundleStore, directoryBundleStore } from './bundle/store.ts';
import type { BundleRefInput } from './contract/events.ts';
import { ConfigurationInvalid } from './errors.ts';

/**
 * Where a release's migrations bundles live: the stack's bucket (BUNDLE_BUCKET), or a folder
 * (BUNDLE_DIR) for the local run, which keeps bundles on this machine.
 */
export function readBundleStore(env: Record<string, string | undefined>): BundleStore {
  if (env.BUNDLE_BUCKET) return s3BundleStore(bundleS3Client(env), env.BUNDLE_BUCKET);
  if (env.BUNDLE_DIR) return directoryBundleStore(env.BUNDLE_DIR);
  throw new ConfigurationInvalid(
    'BUNDLE_BUCKET is not set: the functions cannot find the migrations bundles. Deploy the stack again (it sets it).',
    { variable: 'BUNDLE_BUCKET' },
  );
}

/**
 * The S3 client for the bucket. BUNDLE_S3_PATH_STYLE addresses buckets by path, for an S3-compatible
 * store (a test server, MinIO) at AWS_ENDPOINT_URL_S3; AWS's own S3 needs neither.
 */
export function bundleS3Client(env: Record<string, string | undefined>): S3Client {
  return new S3Client({ forcePathStyle: env.BUNDLE_S3_PATH_STYLE === 'true' });
}

/** The folder holding a bundle's migrations: fetched, verified, and kept for the warm environment. */
export function migrationsFromBundles(store: BundleStore): (bundle: BundleRefInput) => Promise<string> {
  return async (bundle) => (await materializeBundle(store, bundle)).dir;
}
