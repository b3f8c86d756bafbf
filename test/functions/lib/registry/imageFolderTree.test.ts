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
const title = `the subfolders of an image's migrations folder (Prisma, Drizzle) on a real registry${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

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
  async function pushAndRead(image: ImageSpec, pathOverride?: string) {
    const repository = `tree${++images}`;
    await pushImage(registry.host, repository, 'v1', image);
    return readImageMigrations(`${registry.host}/${repository}:v1`, {
      access: { allowPlainHttpOnLoopback: true },
      ...(pathOverride ? { pathOverride } : {}),
    });
  }

  /** The files read, in the order read. */
  const contents = (read: ImageMigrations) =>
    read.files.map((file) => [file.name, file.content.toString('utf8')]);

  it('stacks a Prisma tree across layers: a new migration folder, a whited-out folder, a whited-out file, an opaque folder', async () => {
    const read = await pushAndRead({
      layers: [
        {
          files: {
            'app/migrations/migration_lock.toml': 'provider = "postgresql"',
            'app/migrations/20240101_init/migration.sql': 'init',
            'app/migrations/20240102_posts/migration.sql': 'posts',
            'app/migrations/20240103_tags/migration.sql': 'old tags',
            'app/migrations/20240103_tags/down.sql': 'old down',
            'app/migrations/20240104_drop/migration.sql': 'drop',
            'app/migrations/20240104_drop/keep.sql': 'kept',
          },
        },
        {
          files: {
            'app/migrations/.wh.20240102_posts': '',
            'app/migrations/20240103_tags/.wh..wh..opq': '',
            'app/migrations/20240103_tags/migration.sql': 'new tags',
            'app/migrations/20240104_drop/.wh.migration.sql': '',
            'app/migrations/20240105_comments/migration.sql': 'comments',
          },
        },
      ],
    });
    expect(contents(read)).toEqual([
      ['20240101_init/migration.sql', 'init'],
      ['20240103_tags/migration.sql', 'new tags'],
      ['20240104_drop/keep.sql', 'kept'],
      ['20240105_comments/migration.sql', 'comments'],
      ['migration_lock.toml', 'provider = "postgresql"'],
    ]);
  });

  it('carries a Drizzle folder: its SQL files and meta/_journal.json, not the snapshots or anything deeper', async () => {
    const read = await pushAndRead(
      {
        layers: [
          {
            files: {
              'app/drizzle/0000_users.sql': 'users',
              'app/drizzle/0001_orders.sql': 'orders',
              'app/drizzle/meta/_journal.json': '{"entries":[]}',
              'app/drizzle/meta/0000_snapshot.json': '{"snapshot":0}',
              'app/drizzle/notes/README.md': 'not a migration source',
              'app/drizzle/notes/deeper/0002_x.sql': 'two levels down',
              'app/drizzle/README.md': "the folder's own files all travel",
            },
          },
        ],
      },
      '/app/drizzle',
    );
    expect(contents(read)).toEqual([
      ['0000_users.sql', 'users'],
      ['0001_orders.sql', 'orders'],
      ['README.md', "the folder's own files all travel"],
      ['meta/_journal.json', '{"entries":[]}'],
    ]);
  });

  it('replaces a subfolder by a file or a link in an upper layer, and a file by a subfolder', async () => {
    const byFile = await pushAndRead({
      layers: [
        { files: { 'app/migrations/sub/a.sql': 'a', 'app/migrations/sub/b.sql': 'b' } },
        { files: { 'app/migrations/sub': 'a file now' } },
      ],
    });
    expect(contents(byFile)).toEqual([['sub', 'a file now']]);
    const byLink = await pushAndRead({
      layers: [
        { files: { 'app/migrations/sub/a.sql': 'a', 'app/migrations/001.sql': 'one' } },
        { files: { 'app/migrations/sub': { symlink: '001.sql' } } },
      ],
    });
    expect(contents(byLink)).toEqual([
      ['001.sql', 'one'],
      ['sub', 'one'],
    ]);
    const remade = await pushAndRead({
      layers: [
        { files: { 'app/migrations/sub/a.sql': 'a' } },
        { files: { 'app/migrations/sub': 'a file now' } },
        { files: { 'app/migrations/sub/b.sql': 'b' } },
      ],
    });
    expect(contents(remade)).toEqual([['sub/b.sql', 'b']]);
  });

  it('follows symbolic and hard links between subfolders, and hard links to files the release does not carry', async () => {
    const read = await pushAndRead({
      layers: [
        {
          files: {
            'app/migrations/00_notes/shared.txt': 'from a file left behind',
            'app/migrations/20240101_init/migration.sql': 'init',
            'app/migrations/20240102_again/migration.sql': { symlink: '../20240101_init/migration.sql' },
            'app/migrations/20240103_hard/migration.sql': {
              hardlink: 'app/migrations/20240101_init/migration.sql',
            },
            'app/migrations/20240104_notes/migration.sql': { hardlink: 'app/migrations/00_notes/shared.txt' },
            'app/migrations/latest.sql': { symlink: '/app/migrations/20240102_again/migration.sql' },
          },
        },
      ],
    });
    expect(contents(read)).toEqual([
      ['20240101_init/migration.sql', 'init'],
      ['20240102_again/migration.sql', 'init'],
      ['20240103_hard/migration.sql', 'init'],
      ['20240104_notes/migration.sql', 'from a file left behind'],
      ['latest.sql', 'init'],
    ]);
  });

  it('refuses a link to a folder, a link out of the folder from a subfolder, and a link to a file the release does not carry', async () => {
    const linkedFolder = pushAndRead({
      layers: [
        {
          files: {
            'app/migrations/20240101_init/migration.sql': 'init',
            'app/migrations/current': { symlink: '20240101_init' },
          },
        },
      ],
    });
    await expect(linkedFolder).rejects.toMatchObject({
      name: 'ImageInvalid',
      message: expect.stringContaining(
        '/app/migrations/current is a symbolic link to the folder 20240101_init; a release carries files',
      ),
    });
    const outside = pushAndRead({
      layers: [
        {
          files: {
            'etc/x.sql': 'outside',
            'app/migrations/20240101_init/migration.sql': { symlink: '/etc/x.sql' },
          },
        },
      ],
    });
    await expect(outside).rejects.toMatchObject({
      name: 'ImageInvalid',
      message: expect.stringContaining(
        '/app/migrations/20240101_init/migration.sql is a symbolic link to /etc/x.sql, not to a file of the folder',
      ),
    });
    const uncarried = pushAndRead({
      layers: [
        {
          files: {
            'app/migrations/docs/x.txt': 'in the folder, but not carried',
            'app/migrations/001.sql': { symlink: 'docs/x.txt' },
          },
        },
      ],
    });
    await expect(uncarried).rejects.toMatchObject({
      name: 'ImageInvalid',
      message: expect.stringContaining('/app/migrations/001.sql is a symbolic link to docs/x.txt'),
    });
  });
});
