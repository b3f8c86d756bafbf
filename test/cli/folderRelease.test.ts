import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFolderAsImage } from '../../cli/local/folderRelease.ts';
import { packBundle, unpackBundle } from '../../functions/lib/bundle/bundle.ts';
import { MigrationInvalid } from '../../functions/lib/errors.ts';
import { DIGEST, REPOSITORY } from '../support/aws.ts';
import { DRIZZLE_FOLDER, PRISMA_FOLDER } from '../support/foreignFolders.ts';
import { addMigrations } from '../support/migrationsDir.ts';

const PRISMA_INIT = '20240105093000_init/migration.sql';

describe('readFolderAsImage: the files a release from a local folder carries', () => {
  let root: string;
  let dir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'folder-release-'));
    dir = join(root, 'migrations');
    await mkdir(dir);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const read = async () =>
    (await readFolderAsImage(dir)).files.map((file) => [file.name, file.content.toString('utf8')]);

  const refusal = async (problem: RegExp, migration: string) => {
    const error = await readFolderAsImage(dir).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationInvalid);
    expect(error).toMatchObject({ context: { migration } });
    expect((error as Error).message).toMatch(problem);
  };

  it('carries a Prisma folder as an image would: its files, the SQL one level down, links to it; nothing else', async () => {
    await addMigrations(dir, {
      ...PRISMA_FOLDER,
      '20240105093000_init/down.sql': 'DROP TABLE "User";',
      '20240105093000_init/README.md': 'not a migration source',
      '20240105093000_init/deeper/extra.sql': 'two levels down',
    });
    await mkdir(join(dir, '20240106000000_again'));
    await symlink(`../${PRISMA_INIT}`, join(dir, '20240106000000_again', 'migration.sql'));
    const names = Object.keys(PRISMA_FOLDER).sort();
    expect(await read()).toEqual(
      [
        ...names.map((name) => [name, PRISMA_FOLDER[name]]),
        ['20240105093000_init/down.sql', 'DROP TABLE "User";'],
        ['20240106000000_again/migration.sql', PRISMA_FOLDER[PRISMA_INIT]],
      ].sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
    );
    // The names a bundle keeps, in the same order.
    const files = (await readFolderAsImage(dir)).files;
    const { archive, ref } = packBundle(
      { image: { repository: REPOSITORY, digest: DIGEST }, migrationsPath: dir },
      files,
    );
    expect(unpackBundle(archive, ref.sha256).files).toEqual(files);
  });

  it('carries a Drizzle folder: its SQL files and meta/_journal.json, not the snapshots', async () => {
    await addMigrations(dir, DRIZZLE_FOLDER);
    expect((await read()).map(([name]) => name)).toEqual([
      '0000_melted_sentinel.sql',
      '0001_orders.sql',
      '0002_order_user_index.sql',
      'meta/_journal.json',
    ]);
  });

  it('refuses a link in a subfolder leading out of the folder, even one the engine does not read', async () => {
    await addMigrations(dir, PRISMA_FOLDER);
    await writeFile(join(root, 'outside.sql'), 'select 1;');
    await symlink(join(root, 'outside.sql'), join(dir, '20240105093000_init', 'notes.sql'));
    await refusal(
      /outside the migrations folder, which a release would not carry/,
      '20240105093000_init/notes.sql',
    );
  });

  it('refuses a link to a subfolder, which the image reader could not follow either', async () => {
    // Drizzle's meta/ as a link to a real folder beside it: the engine reads through it, a release could not.
    const files = Object.entries(DRIZZLE_FOLDER).map(([name, text]) => [
      name.replace(/^meta\//, 'journal/'),
      text,
    ]);
    await addMigrations(dir, Object.fromEntries(files));
    await symlink('journal', join(dir, 'meta'));
    await refusal(/it is a symbolic link to a folder, which a release does not carry/, 'meta');
  });

  it('refuses a link to a file of the folder that the release does not carry', async () => {
    await addMigrations(dir, DRIZZLE_FOLDER);
    await symlink('meta/0000_snapshot.json', join(dir, 'snapshot.json'));
    await refusal(
      /meta\/0000_snapshot.json, not to a file of the folder that a release carries/,
      'snapshot.json',
    );
  });

  it('still fails with the engine’s errors: a folder without migrations, a migration the engine refuses', async () => {
    await addMigrations(dir, { 'README.md': 'no migrations', 'notes/deeper/0001_x.sql': 'too deep' });
    await expect(readFolderAsImage(dir)).rejects.toMatchObject({ name: 'MigrationsNotFound' });
    await addMigrations(dir, { '0001_x.SQL': 'select 1' });
    await refusal(/extension .SQL is not lower case/, '0001_x.SQL');
  });
});
