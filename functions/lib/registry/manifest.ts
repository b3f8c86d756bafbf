import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { ImageInvalid, RegistryUnreachable } from '../errors.ts';
import type { RegistryClient } from './distribution.ts';
import { DIGEST } from './reference.ts';

const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerList];
const MANIFEST_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
const CONFIG_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];
const ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES];

/** Registries refuse manifests past 4 MiB; an image config with a long history stays well below 16. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const descriptor = z.object({
  mediaType: z.string(),
  digest: z.string().check(z.regex(DIGEST)),
  size: z.number().check(z.int(), z.nonnegative()),
  platform: z.optional(z.object({ os: z.string(), architecture: z.string() })),
  annotations: z.optional(z.record(z.string(), z.string())),
});
export type Descriptor = z.infer<typeof descriptor>;

const indexSchema = z.object({ manifests: z.array(descriptor) });
const manifestSchema = z.object({ config: descriptor, layers: z.array(descriptor) });
const configSchema = z.object({
  config: z.optional(
    z.nullable(z.object({ Labels: z.optional(z.nullable(z.record(z.string(), z.string()))) })),
  ),
});

export interface PlatformManifest {
  /** Digest of what the reference resolved to: the index when multi-platform. */
  topDigest: string;
  platformDigest: string;
  config: Descriptor;
  layers: Descriptor[];
}

/**
 * Resolves a tag or digest to the manifest of one platform: every platform of a release carries the
 * same migrations, so linux/amd64 when the index has it, else its first other linux image (never a
 * build attestation, which index entries mark with `vnd.docker.reference.type`).
 */
export async function resolvePlatformManifest(client: RegistryClient): Promise<PlatformManifest> {
  const { image, reference } = client;
  const top = await fetchManifest(client, reference.digest ?? reference.tag ?? 'latest', reference.digest);
  if (!INDEX_TYPES.includes(top.mediaType)) {
    return { topDigest: top.digest, platformDigest: top.digest, ...parseManifest(top, image) };
  }
  const { manifests } = parse(indexSchema, top.json, image, 'image index');
  const images = manifests.filter(
    (entry) =>
      MANIFEST_TYPES.includes(entry.mediaType) &&
      entry.platform?.os === 'linux' &&
      entry.annotations?.['vnd.docker.reference.type'] === undefined,
  );
  const chosen = images.find((entry) => entry.platform?.architecture === 'amd64') ?? images[0];
  if (!chosen) {
    throw invalid(
      image,
      'no linux image in the index',
      'its image index lists no linux image. Push a linux image.',
    );
  }
  const platform = await fetchManifest(client, chosen.digest, chosen.digest);
  if (!MANIFEST_TYPES.includes(platform.mediaType)) {
    throw invalid(
      image,
      `platform manifest of type ${platform.mediaType}`,
      'its index points at something that is not an image manifest. Push it again with docker buildx or buildah.',
    );
  }
  return { topDigest: top.digest, platformDigest: platform.digest, ...parseManifest(platform, image) };
}

/** The image's labels (`config.Labels` of its config blob). */
export async function readLabels(
  client: RegistryClient,
  config: Descriptor,
): Promise<Record<string, string>> {
  const { image } = client;
  if (!CONFIG_TYPES.includes(config.mediaType)) {
    throw invalid(
      image,
      `config of type ${config.mediaType}`,
      `its config is ${config.mediaType}, not a container image's. Push a container image.`,
    );
  }
  const body = await readVerified(
    client,
    await client.blob(config.digest),
    config.digest,
    MAX_CONFIG_BYTES,
    'config',
  );
  return parse(configSchema, parseJson(body, image, 'config'), image, 'config').config?.Labels ?? {};
}

interface FetchedManifest {
  digest: string;
  mediaType: string;
  json: unknown;
}

async function fetchManifest(
  client: RegistryClient,
  reference: string,
  expected?: string,
): Promise<FetchedManifest> {
  const { image } = client;
  const response = await client.manifest(reference, ACCEPT);
  const header = response.headers.get('docker-content-digest');
  const body = await readVerified(
    client,
    response,
    expected ?? (header?.startsWith('sha256:') ? header : undefined),
    MAX_MANIFEST_BYTES,
    'manifest',
  );
  const json = parseJson(body, image, 'manifest');
  const declared = (json as { mediaType?: unknown }).mediaType;
  const contentType = response.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
  // The body's own mediaType is covered by the digest, the Content-Type header is not: it wins.
  const mediaType = typeof declared === 'string' ? declared : contentType;
  if (!ACCEPT.includes(mediaType)) {
    throw invalid(
      image,
      `manifest of type ${mediaType || 'unknown'}`,
      `its manifest is ${mediaType || 'of no known type'}, not an OCI or Docker v2 image. Push it with a current docker or buildah.`,
    );
  }
  return { digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, mediaType, json };
}

/** Reads a small body (manifest, config) whole, refusing one past `limit` or not hashing to `digest`. */
async function readVerified(
  client: RegistryClient,
  response: Response,
  digest: string | undefined,
  limit: number,
  what: string,
): Promise<Buffer> {
  const { image } = client;
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of response.body ?? []) {
      length += chunk.length;
      if (length > limit) {
        await response.body?.cancel();
        throw invalid(
          image,
          `${what} larger than ${limit} bytes`,
          `its ${what} is larger than ${limit / 1024 / 1024} MiB, which no container image has. Check the image reference.`,
        );
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (error) {
    if (error instanceof ImageInvalid) throw error;
    throw new RegistryUnreachable(
      `The download of the ${what} of ${image} broke off. The release retries.`,
      { registry: client.reference.registry },
      { cause: error },
    );
  }
  const body = Buffer.concat(chunks);
  const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (digest && actual !== digest) {
    throw invalid(
      image,
      `${what} digest mismatch`,
      `its ${what} hashes to ${actual}, not ${digest}: the registry (or something between) altered it. Push the image again.`,
    );
  }
  return body;
}

function parseManifest(manifest: FetchedManifest, image: string) {
  return parse(manifestSchema, manifest.json, image, 'manifest');
}

function parseJson(body: Buffer, image: string, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid(image, `${what} is not JSON`, `its ${what} is not JSON. Push the image again.`);
  }
}

function parse<T>(schema: z.ZodMiniType<T>, value: unknown, image: string, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success)
    throw invalid(
      image,
      `malformed ${what}`,
      `its ${what} does not follow the OCI image spec. Push it again with docker buildx or buildah.`,
    );
  return result.data;
}

export function invalid(image: string, problem: string, explanation: string): ImageInvalid {
  return new ImageInvalid(`The image ${image} cannot be read: ${explanation}`, { image, problem });
}
