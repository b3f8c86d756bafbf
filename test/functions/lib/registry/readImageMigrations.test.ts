import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ImageMigrations,
  MIGRATIONS_PATH_LABEL,
  readImageMigrations,
} from '../../../../functions/lib/registry/readImageMigrations.ts';
import { type ImageSpec, type LayerSpec, pushImage } from '../../../support/imageLayout.ts';
import {
  ENABLE_REGISTRY_TESTS,
  type Registry,
  registryToolsAvailable,
  startRegistry,
} from '../../../support/registry.ts';

const available = registryToolsAvailable();
const title = `reading migrations from images in a real registry${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

const BASE = { files: { 'etc/os-release': 'ID=test\n', 'usr/bin/app': '#!/bin/sh\n' } };

describe.skipIf(!available)(title, () => {
  let registry: Registry;
  let images = 0;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** Pushes the image under a fresh repository and reads it back. */
  async function pushAndRead(
    image: ImageSpec | ImageSpec[],
    options: { pathOverride?: string; format?: 'oci' | 'v2s2' } = {},
  ): Promise<ImageMigrations & { pushed: string }> {
    const repository = `app${++images}`;
    const pushed = await pushImage(registry.host, repository, 'v1', image, options.format);
    const read = await readImageMigrations(`${registry.host}/${repository}:v1`, {
      access: { allowPlainHttpOnLoopback: true },
      ...(options.pathOverride ? { pathOverride: options.pathOverride } : {}),
    });
    return { ...read, pushed };
  }

  const contents = (read: ImageMigrations) =>
    Object.fromEntries(read.files.map((file) => [file.name, file.content.toString('utf8')]));

  it('stacks several layers: later files add to and replace earlier ones', async () => {
    const read = await pushAndRead({
      layers: [
        BASE,
        { files: { 'app/migrations/001-users.sql': 'create table users ();' } },
        {
          files: {
            'app/migrations/002-orders.sql': 'create table orders ();',
            'app/migrations/001-users.sql': 'create table users (id int);',
          },
        },
      ],
    });
    expect(contents(read)).toEqual({
      '001-users.sql': 'create table users (id int);',
      '002-orders.sql': 'create table orders ();',
    });
    expect(read.image.digest).toBe(read.pushed);
    expect(read.platformDigest).toBe(read.pushed);
    expect(read.migrationsPath).toBe('/app/migrations');
    expect(read.layers).toHaveLength(3);
    expect(read.layers.every((layer) => !layer.fromCache && layer.bytes > 0)).toBe(true);
  });

  it('applies a whiteout: a file deleted in an upper layer is gone', async () => {
    const read = await pushAndRead({
      layers: [
        { files: { 'app/migrations/001.sql': 'one', 'app/migrations/002.sql': 'two' } },
        { files: { 'app/migrations/.wh.002.sql': '', 'app/migrations/003.sql': 'three' } },
        // A whiteout removes from lower layers only: the file its own layer brings stays.
        { files: { 'app/migrations/.wh.001.sql': '', 'app/migrations/001.sql': 'one again' } },
      ],
    });
    expect(contents(read)).toEqual({ '001.sql': 'one again', '003.sql': 'three' });
  });

  it('applies an opaque directory: the upper layer alone fills the folder', async () => {
    const read = await pushAndRead({
      layers: [
        { files: { 'app/migrations/001.sql': 'old one', 'app/migrations/002.sql': 'old two' } },
        { files: { 'app/migrations/.wh..wh..opq': '', 'app/migrations/001.sql': 'new one' } },
      ],
    });
    expect(contents(read)).toEqual({ '001.sql': 'new one' });
  });

  it('applies an opaque ancestor and a whited-out ancestor to the whole folder', async () => {
    const opaque = await pushAndRead({
      layers: [
        { files: { 'app/migrations/001.sql': 'old' } },
        { files: { 'app/.wh..wh..opq': '', 'app/migrations/002.sql': 'new' } },
      ],
    });
    expect(contents(opaque)).toEqual({ '002.sql': 'new' });
    const removed = pushAndRead({
      layers: [{ files: { 'app/migrations/001.sql': 'old' } }, { files: { '.wh.app': '', 'srv/x': 'x' } }],
    });
    await expect(removed).rejects.toMatchObject({ name: 'MigrationsNotFound' });
  });

  it('replaces the folder when an upper layer puts a file where it was, even if a later one makes it again', async () => {
    const replaced = pushAndRead({
      layers: [{ files: { 'app/migrations/001.sql': 'old' } }, { files: { 'app/migrations': 'a file now' } }],
    });
    await expect(replaced).rejects.toMatchObject({ name: 'MigrationsNotFound' });
    const remade = await pushAndRead({
      layers: [
        { files: { 'app/migrations/001.sql': 'old' } },
        { files: { 'app/migrations': 'a file now' } },
        { files: { 'app/migrations/002.sql': 'new' } },
      ],
    });
    expect(contents(remade)).toEqual({ '002.sql': 'new' });
  });

  it('picks linux/amd64 from an image index with two platforms, and answers the index digest', async () => {
    const read = await pushAndRead([
      { architecture: 'arm64', layers: [{ files: { 'app/migrations/001.sql': 'arm64' } }] },
      { architecture: 'amd64', layers: [{ files: { 'app/migrations/001.sql': 'amd64' } }] },
    ]);
    expect(contents(read)).toEqual({ '001.sql': 'amd64' });
    expect(read.image.digest).toBe(read.pushed);
    expect(read.platformDigest).not.toBe(read.pushed);
  });

  it('skips attestation manifests of an index without amd64 and takes the first linux image', async () => {
    const read = await pushAndRead([
      {
        architecture: 'unknown',
        indexAnnotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
        layers: [{ files: { 'app/migrations/001.sql': 'attestation' } }],
      },
      { architecture: 'arm64', layers: [{ files: { 'app/migrations/001.sql': 'arm64' } }] },
    ]);
    expect(contents(read)).toEqual({ '001.sql': 'arm64' });
  });

  it('reads the folder the label names, and the override wins over the label', async () => {
    const image: ImageSpec = {
      labels: { [MIGRATIONS_PATH_LABEL]: '/srv/db/migrations/' },
      layers: [
        {
          files: {
            'srv/db/migrations/001.sql': 'labelled',
            'app/migrations/001.sql': 'default',
            'opt/m/001.sql': 'override',
          },
        },
      ],
    };
    const labelled = await pushAndRead(image);
    expect(labelled.migrationsPath).toBe('/srv/db/migrations');
    expect(contents(labelled)).toEqual({ '001.sql': 'labelled' });
    const overridden = await pushAndRead(image, { pathOverride: '/opt/m' });
    expect(contents(overridden)).toEqual({ '001.sql': 'override' });
  });

  it('refuses an image with no migrations at the path: MigrationsNotFound naming it', async () => {
    const read = pushAndRead({
      layers: [BASE, { files: { 'app/migrations/sub/deeper/001.sql': 'too deep to be a migration' } }],
    });
    await expect(read).rejects.toMatchObject({
      name: 'MigrationsNotFound',
      context: { path: '/app/migrations' },
    });
  });

  it('reads gzip, zstd and uncompressed layers, and Docker v2 manifests', async () => {
    const layers: LayerSpec[] = [
      { compression: 'gzip', files: { 'app/migrations/001.sql': 'gzip' } },
      { compression: 'zstd', files: { 'app/migrations/002.sql': 'zstd' } },
      { compression: 'none', files: { 'app/migrations/003.sql': 'plain' } },
    ];
    expect(contents(await pushAndRead({ layers }))).toEqual({
      '001.sql': 'gzip',
      '002.sql': 'zstd',
      '003.sql': 'plain',
    });
    const docker = await pushAndRead({ layers: [layers[0] as LayerSpec] }, { format: 'v2s2' });
    expect(contents(docker)).toEqual({ '001.sql': 'gzip' });
    const served = await fetch(`http://${registry.host}/v2/app${images}/manifests/v1`, {
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(served.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
  });
});
