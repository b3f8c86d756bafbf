import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * The registry reader's layer index cache in the stack's bucket, under `layers/`: what an immutable
 * layer holds under the migrations path, so that an image's base layers are downloaded once. A miss
 * or an unreadable entry only costs a download, so failures here are never an error of the release.
 */
export function s3LayerIndexCache(client: S3Client, bucket: string) {
  const keyOf = (key: string) => `layers/${createHash('sha256').update(key).digest('hex')}.json`;
  return {
    async get(key: string): Promise<string | undefined> {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(key) }));
        return await object.Body?.transformToString('utf8');
      } catch {
        return undefined;
      }
    },
    async put(key: string, value: string): Promise<void> {
      await client
        .send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: keyOf(key),
            Body: value,
            ContentType: 'application/json',
          }),
        )
        .catch(() => {});
    },
  };
}
