import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BundleStoreUnreachable, ConfigurationInvalid } from '../errors.ts';
import type { BundleRef } from './bundle.ts';
import { type BundleStore, missingBundle } from './store.ts';

interface AwsError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Bundles in the stack's S3 bucket. Objects are encrypted by the bucket's default encryption (SSE-S3
 * or SSE-KMS, as the stack configures it), so no encryption header is sent: a request naming one the
 * bucket does not use would fail, and S3-compatible test servers ignore or refuse them.
 */
export function s3BundleStore(client: S3Client, bucket: string): BundleStore {
  const describe = `s3://${bucket}`;
  const where = (ref: BundleRef) => `${describe}/${ref.key}`;
  return {
    describe,
    async put(ref, archive) {
      const checksum = Buffer.from(ref.sha256, 'hex').toString('base64');
      if (await holdsSameBundle(client, bucket, ref, archive.length, checksum)) return;
      await client
        .send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: ref.key,
            Body: archive,
            ContentType: 'application/x-tar',
            // S3 refuses the upload if the bytes it received do not have this SHA-256.
            ChecksumSHA256: checksum,
          }),
        )
        .catch((error: unknown) => {
          throw storeError(error, ref, where(ref), describe);
        });
    },
    async get(ref) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: ref.key }));
        if (!object.Body) throw missingBundle(ref, where(ref));
        return Buffer.from(await object.Body.transformToByteArray());
      } catch (error) {
        throw storeError(error, ref, where(ref), describe);
      }
    },
  };
}

/**
 * Whether the bucket already holds this bundle, so that a release started again does not upload it
 * again. An object of another size or checksum (S3 reports the checksum of objects uploaded with one)
 * is a damaged bundle: it is written over.
 */
async function holdsSameBundle(
  client: S3Client,
  bucket: string,
  ref: BundleRef,
  bytes: number,
  checksum: string,
): Promise<boolean> {
  try {
    const head = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: ref.key, ChecksumMode: 'ENABLED' }),
    );
    return (
      head.ContentLength === bytes && (head.ChecksumSHA256 === undefined || head.ChecksumSHA256 === checksum)
    );
  } catch (error) {
    // Without s3:ListBucket S3 answers a missing key with 403, not 404: either way, the upload decides.
    const status = (error as AwsError).$metadata?.httpStatusCode;
    if (status === 404 || status === 403) return false;
    throw storeError(error, ref, `s3://${bucket}/${ref.key}`, `s3://${bucket}`);
  }
}

/** Names an S3 failure: waiting fixes a network error, a 5xx or throttling; a missing object needs a new release. */
function storeError(error: unknown, ref: BundleRef, where: string, store: string): unknown {
  if (!(typeof error === 'object' && error !== null && '$metadata' in error)) return error;
  const { name, code, $metadata } = error as AwsError;
  const status = $metadata?.httpStatusCode;
  if (name === 'NoSuchKey' || status === 404) return missingBundle(ref, where);
  if (status === undefined || status >= 500 || status === 429 || name === 'SlowDown') {
    return new BundleStoreUnreachable(
      `The bundle store ${store} could not be reached (${code ?? name ?? `HTTP ${status}`}). ` +
        'It is retried; if it persists, check that the functions reach S3 (the S3 gateway endpoint or a NAT).',
      { store, code: code ?? name },
      { cause: error },
    );
  }
  if (status === 403) {
    return new ConfigurationInvalid(
      `Access to ${where} was denied. Deploy the stack again so that the functions' role may use the ` +
        "bucket's bundles/ (and list the bucket: without s3:ListBucket S3 answers a missing bundle with 403), " +
        "and check that the bucket's policy does not refuse the request.",
      { variable: 'BUNDLE_BUCKET' },
      { cause: error },
    );
  }
  return error;
}
