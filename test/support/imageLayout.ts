import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { constants, createGzip, createZstdCompress } from 'node:zlib';
import { registryDigest } from './registry.ts';

const execute = promisify(execFile);

/**
 * OCI image layouts (image-spec "image-layout") written the way image builders do: each layer is a
 * real GNU tar of a folder, compressed with gzip or zstd, and the layout is pushed with skopeo.
 */

/** A file's content, a link (target as tar stores it) or an empty folder. Whiteouts are just files named `.wh.<name>`. */
export type FileSpec = string | { symlink: string } | { hardlink: string } | { directory: true };

export interface LayerSpec {
  /** Paths relative to the image root, like `app/migrations/001.sql`; written in this order. */
  files?: Record<string, FileSpec>;
  /** A prepared folder to archive instead of `files` (the bench's big layers). */
  directory?: string;
  compression?: 'gzip' | 'zstd' | 'none';
  /** GNU tar's --format: gnu (long names as `L` entries), pax (as `x` headers), ustar (prefix field). */
  tarFormat?: 'gnu' | 'pax' | 'ustar';
  gzipLevel?: number;
}

export interface ImageSpec {
  layers: LayerSpec[];
  labels?: Record<string, string>;
  architecture?: string;
  /** Annotations of this image's entry in an index: `vnd.docker.reference.type` marks an attestation. */
  indexAnnotations?: Record<string, string>;
}

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

export interface LayerBlob extends Blob {
  diffId: string;
}

const LAYER_TYPES = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export class ImageLayout {
  private readonly refs: { name: string; blob: Blob }[] = [];

  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<ImageLayout> {
    const dir = await mkdtemp(join(tmpdir(), 'migration-pipeline-layout-'));
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    return new ImageLayout(dir);
  }

  async addBlob(data: Buffer, mediaType: string): Promise<Blob> {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(join(this.dir, 'blobs', 'sha256', hex), data);
    return { mediaType, digest: `sha256:${hex}`, size: data.length };
  }

  /** Archives the layer's folder with GNU tar (sorted, owned by root, mtime 0: reproducible) and compresses it. */
  async addLayer(spec: LayerSpec): Promise<LayerBlob> {
    const source = spec.directory ?? (await mkdtemp(join(tmpdir(), 'migration-pipeline-layer-')));
    try {
      if (!spec.directory) await materialize(source, spec.files ?? {});
      return await this.archive(source, spec);
    } finally {
      if (!spec.directory) await rm(source, { recursive: true, force: true });
    }
  }

  async addImage(spec: Omit<ImageSpec, 'layers'>, layers: LayerBlob[]): Promise<Blob> {
    const architecture = spec.architecture ?? 'amd64';
    const config = await this.addBlob(
      Buffer.from(
        JSON.stringify({
          architecture,
          os: 'linux',
          config: { Labels: spec.labels ?? {} },
          rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
        }),
      ),
      'application/vnd.oci.image.config.v1+json',
    );
    const manifest = await this.addJson('application/vnd.oci.image.manifest.v1+json', {
      schemaVersion: 2,
      config,
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    });
    return {
      ...manifest,
      platform: { os: 'linux', architecture },
      ...(spec.indexAnnotations ? { annotations: spec.indexAnnotations } : {}),
    };
  }

  async addIndex(manifests: Blob[]): Promise<Blob> {
    return this.addJson('application/vnd.oci.image.index.v1+json', { schemaVersion: 2, manifests });
  }

  /**
   * Pushes `top` as repository:tag with skopeo (`v2s2` converts to Docker's media types) and answers
   * the digest the registry serves for the tag.
   */
  async push(host: string, repository: string, tag: string, top: Blob, format: 'oci' | 'v2s2' = 'oci') {
    this.refs.push({ name: tag, blob: top });
    const manifests = this.refs.map(({ name, blob }) => ({
      mediaType: blob.mediaType,
      digest: blob.digest,
      size: blob.size,
      annotations: { 'org.opencontainers.image.ref.name': name },
    }));
    await writeFile(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
    const formatFlags = format === 'oci' ? ['--preserve-digests'] : ['--format', 'v2s2'];
    await execute('skopeo', [
      'copy',
      '--quiet',
      '--all',
      ...formatFlags,
      '--dest-tls-verify=false',
      `oci:${this.dir}:${tag}`,
      `docker://${host}/${repository}:${tag}`,
    ]);
    return registryDigest(host, repository, tag);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private async addJson(mediaType: string, value: unknown): Promise<Blob> {
    return this.addBlob(Buffer.from(JSON.stringify({ mediaType, ...(value as object) })), mediaType);
  }

  /** Streams tar → hash of the tar (diff id) → compressor → hash of the blob → blob file. */
  private async archive(source: string, spec: LayerSpec): Promise<LayerBlob> {
    const compression = spec.compression ?? 'gzip';
    const temporary = join(this.dir, `layer-${process.pid}-${Date.now()}-${Math.random()}.tmp`);
    const tar = spawn('tar', [
      `--format=${spec.tarFormat ?? 'gnu'}`,
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      source,
      '-cf',
      '-',
      '.',
    ]);
    const tarExit = new Promise<number | null>((resolve) => tar.once('close', resolve));
    const diffId = createHash('sha256');
    const digest = createHash('sha256');
    let size = 0;
    await pipeline(
      tar.stdout,
      hashing((chunk) => diffId.update(chunk)),
      compressor(compression, spec.gzipLevel),
      hashing((chunk) => {
        digest.update(chunk);
        size += chunk.length;
      }),
      createWriteStream(temporary),
    );
    if ((await tarExit) !== 0) throw new Error(`tar failed for ${source}`);
    const hex = digest.digest('hex');
    await rename(temporary, join(this.dir, 'blobs', 'sha256', hex));
    return {
      mediaType: LAYER_TYPES[compression],
      digest: `sha256:${hex}`,
      size,
      diffId: `sha256:${diffId.digest('hex')}`,
    };
  }
}

function compressor(compression: 'gzip' | 'zstd' | 'none', gzipLevel = 6): Transform {
  if (compression === 'gzip') return createGzip({ level: gzipLevel });
  if (compression === 'zstd')
    return createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 3 } });
  return new PassThrough();
}

function hashing(update: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      update(chunk);
      done(null, chunk);
    },
  });
}

/** Writes the files of a layer's folder; links are made as links, so that tar archives them as such. */
export async function materialize(root: string, files: Record<string, FileSpec>): Promise<void> {
  for (const [path, spec] of Object.entries(files)) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    if (typeof spec === 'string') await writeFile(target, spec);
    else if ('symlink' in spec) await symlink(spec.symlink, target);
    else if ('hardlink' in spec) await link(join(root, spec.hardlink), target);
    else await mkdir(target, { recursive: true });
  }
}

/** Builds and pushes an image (an index of them when given several, one per architecture); answers the tag's digest. */
export async function pushImage(
  host: string,
  repository: string,
  tag: string,
  images: ImageSpec | ImageSpec[],
  format: 'oci' | 'v2s2' = 'oci',
): Promise<string> {
  const layout = await ImageLayout.create();
  try {
    const manifests: Blob[] = [];
    for (const image of Array.isArray(images) ? images : [images]) {
      const layers: LayerBlob[] = [];
      for (const layer of image.layers) layers.push(await layout.addLayer(layer));
      manifests.push(await layout.addImage(image, layers));
    }
    const top = Array.isArray(images) ? await layout.addIndex(manifests) : (manifests[0] as Blob);
    return await layout.push(host, repository, tag, top, format);
  } finally {
    await layout.remove();
  }
}
