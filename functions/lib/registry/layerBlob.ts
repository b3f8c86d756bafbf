import { createHash } from 'node:crypto';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { PipelineError, RegistryUnreachable } from '../errors.ts';
import type { RegistryClient } from './distribution.ts';
import { type Descriptor, invalid } from './manifest.ts';

const LAYER_TYPE =
  /^application\/vnd\.(?:oci\.image\.layer(?:\.nondistributable)?\.v1\.tar|docker\.image\.rootfs\.(?:foreign\.)?diff\.tar)(?:[+.](gzip|zstd))?$/;

/**
 * Streams a layer's tar (downloaded, decompressed by its media type) through `consume`, verifying
 * the blob's sha256 and size as the bytes pass: nothing of the layer is held but what `consume` keeps.
 * `consume` must read its input to the end (the digest covers every byte).
 */
export async function readLayerTar<T>(
  client: RegistryClient,
  layer: Descriptor,
  consume: (tar: AsyncIterable<Uint8Array>) => Promise<T>,
): Promise<T> {
  const { image } = client;
  const decompressor = decompressorFor(layer.mediaType, image);
  const response = await client.blob(layer.digest);
  const body = response.body;
  if (!body)
    throw invalid(
      image,
      `empty layer ${layer.digest}`,
      `the registry sent no content for layer ${layer.digest}. Push the image again.`,
    );
  const hash = createHash('sha256');
  let bytes = 0;
  async function* download() {
    try {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    } catch (error) {
      throw new RegistryUnreachable(
        `The download of layer ${layer.digest} of ${image} from ${client.reference.registry} broke off. The release retries.`,
        { registry: client.reference.registry },
        { cause: error },
      );
    }
  }
  let result: T | undefined;
  try {
    await pipeline(download, decompressor, async (tar: AsyncIterable<Uint8Array>) => {
      result = await consume(tar);
    });
  } catch (error) {
    if (error instanceof PipelineError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(
      image,
      `corrupt layer ${layer.digest}`,
      `layer ${layer.digest} does not unpack (${reason}). Push the image again.`,
    );
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== layer.digest || bytes !== layer.size) {
    throw invalid(
      image,
      `layer digest mismatch ${layer.digest}`,
      `layer ${layer.digest} arrived as ${bytes} bytes hashing to ${actual}: the registry (or something between) altered it. Push the image again.`,
    );
  }
  return result as T;
}

function decompressorFor(mediaType: string, image: string): Transform {
  const match = LAYER_TYPE.exec(mediaType);
  if (!match) {
    throw invalid(
      image,
      `layer of type ${mediaType}`,
      `it has a layer of type ${mediaType}, which is not a tar, tar+gzip or tar+zstd layer. Build it with docker, buildah or another OCI image builder.`,
    );
  }
  if (match[1] === 'gzip') return zlib.createGunzip();
  if (match[1] !== 'zstd') return new PassThrough();
  if (typeof zlib.createZstdDecompress !== 'function') {
    throw invalid(
      image,
      'zstd layer',
      'it has zstd layers, which need Node.js 22.15 or later. Run on Node.js 24, or push the image with gzip layers.',
    );
  }
  return zlib.createZstdDecompress();
}
