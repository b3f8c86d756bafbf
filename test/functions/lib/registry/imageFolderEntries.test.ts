import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ImageMigrations,
  readImageMigrations,
} from '../../../../functions/lib/registry/readImageMigrations.ts';
import { type ImageSpec, pushImage } from '../../../support/imageLayout.ts';
import {
  ENABLE_REGISTRY_TESTS,
  type Registry,
  registryToolsAvailable,
  startRegistry,
} from '../../../support/registry.ts';

const available = registryToolsAvailable();
const title = `the entries of an image's migrations folder: names, links, sizes${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

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
  async function pushAndRead(image: ImageSpec, options: { pathOverride?: string } = {}) {
    const repository = `app${++images}`;
    await pushImage(registry.host, repository, 'v1', image);
    return readImageMigrations(`${registry.host}/${repository}:v1`, {
      access: { allowPlainHttpOnLoopback: true },
      ...(options.pathOverride ? { pathOverride: options.pathOverride } : {}),
    });
  }

  const contents = (read: ImageMigrations) =>
    Object.fromEntries(read.files.map((file) => [file.name, file.content.toString('utf8')]));

  it('reads long names from GNU, pax and ustar archives', async () => {
    const long = `000-${'a'.repeat(86)}.sql`;
    const deep = `app/${'d'.repeat(90)}/migrations`;
    for (const tarFormat of ['gnu', 'pax', 'ustar'] as const) {
      const read = await pushAndRead(
        { layers: [{ tarFormat, files: { [`${deep}/${long}`]: tarFormat } }] },
        { pathOverride: `/${deep}` },
      );
      expect(contents(read)).toEqual({ [long]: tarFormat });
    }
  });

  it('follows links within the folder, hard links to files elsewhere in the layer too', async () => {
    const read = await pushAndRead({
      layers: [
        { files: { 'app/migrations/001.sql': 'one' } },
        {
          files: {
            'aaa/shared.sql': 'linked from outside',
            'app/migrations/002.sql': { hardlink: 'aaa/shared.sql' },
            'app/migrations/003.sql': { symlink: '001.sql' },
            'app/migrations/004.sql': { symlink: '/app/migrations/002.sql' },
            'app/migrations/seeds/005.sql': 'one level down',
            'app/migrations/010.sql': 'ten',
            'app/migrations/011.sql': { hardlink: 'app/migrations/010.sql' },
          },
        },
      ],
    });
    expect(contents(read)).toEqual({
      '001.sql': 'one',
      '002.sql': 'linked from outside',
      '003.sql': 'one',
      '004.sql': 'linked from outside',
      '010.sql': 'ten',
      'seeds/005.sql': 'one level down',
      '011.sql': 'ten',
    });
  });

  it('refuses a symbolic link leading out of the folder, and a folder that is a link', async () => {
    const outside = pushAndRead({
      layers: [
        {
          files: {
            'etc/001.sql': 'outside',
            'app/migrations/001.sql': 'inside',
            'app/migrations/002.sql': { symlink: '/etc/001.sql' },
          },
        },
      ],
    });
    await expect(outside).rejects.toMatchObject({
      name: 'ImageInvalid',
      message: expect.stringContaining('/app/migrations/002.sql is a symbolic link to /etc/001.sql'),
    });
    const linkedFolder = pushAndRead({
      layers: [{ files: { 'srv/m/001.sql': 'x', 'app/migrations': { symlink: '/srv/m' } } }],
    });
    await expect(linkedFolder).rejects.toMatchObject({
      name: 'ImageInvalid',
      message: expect.stringContaining('/app/migrations is a symbolic link'),
    });
  });

  it('refuses a migration file over 32 MiB', async () => {
    const read = pushAndRead({
      layers: [{ files: { 'app/migrations/001.sql': '-'.repeat(32 * 1024 * 1024 + 1) } }],
    });
    await expect(read).rejects.toMatchObject({
      name: 'ImageInvalid',
      message: expect.stringContaining('32 MiB'),
    });
  });
});
