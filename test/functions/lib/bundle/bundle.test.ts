import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  type BundleManifest,
  packBundle,
  sha256Of,
  unpackBundle,
} from '../../../../functions/lib/bundle/bundle.ts';
import { type TarEntry, writeTar } from '../../../../functions/lib/bundle/tar.ts';
import { BundleInvalid, ErrorName, MigrationInvalid } from '../../../../functions/lib/errors.ts';
import { DIGEST, REPOSITORY } from '../../../support/aws.ts';

const run = promisify(execFile);
const SOURCE = { image: { repository: REPOSITORY, digest: DIGEST }, migrationsPath: '/app/migrations' };
const FILES = [
  { name: '001-users.sql', content: Buffer.from('create table users (id int);\n') },
  {
    name: '002-orders.mjs',
    content: Buffer.from('export const up = (sql) => sql`create table orders ()`;\n'),
  },
  { name: '010-big.sql', content: Buffer.alloc(5000, 'x') }, // spans blocks: padding is exercised
];

/** An archive laid out like a bundle, with whatever manifest and entries a test needs, and its true hash. */
function craft(manifest: object, entries: TarEntry[]): { archive: Buffer; sha256: string } {
  const archive = writeTar([
    { path: 'manifest.json', content: Buffer.from(JSON.stringify(manifest)) },
    ...entries,
  ]);
  return { archive, sha256: sha256Of(archive) };
}

function manifestFor(files: { name: string; content: Buffer }[]): BundleManifest {
  return {
    formatVersion: 1,
    ...SOURCE,
    migrations: files.map((file) => ({
      name: file.name,
      sha256: sha256Of(file.content),
      bytes: file.content.length,
    })),
  };
}

function refusal(archive: Buffer, sha256: string): BundleInvalid {
  try {
    unpackBundle(archive, sha256);
  } catch (error) {
    expect(error).toBeInstanceOf(BundleInvalid);
    return error as BundleInvalid;
  }
  throw new Error('the bundle was accepted');
}

describe('packBundle', () => {
  it('gives the same bytes for the same migrations, whatever the order they are given in', () => {
    const first = packBundle(SOURCE, FILES);
    const again = packBundle(structuredClone(SOURCE), FILES);
    const reversed = packBundle(SOURCE, [...FILES].reverse());
    expect(again.archive.equals(first.archive)).toBe(true);
    expect(reversed.archive.equals(first.archive)).toBe(true);
    expect(reversed.ref).toEqual(first.ref);
    expect(first.ref).toEqual({
      sha256: sha256Of(first.archive),
      key: `bundles/${sha256Of(first.archive)}.tar`,
      migrations: 3,
    });
    expect(first.manifest.migrations.map((migration) => migration.name)).toEqual([
      '001-users.sql',
      '002-orders.mjs',
      '010-big.sql',
    ]);
  });

  it('packs a flat folder to the bytes it always has: existing bundles and caches keep their address', () => {
    // Computed before bundles held subfolders: a change of these bytes re-addresses every release's bundle.
    const source = {
      image: {
        repository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app',
        digest: `sha256:${'a'.repeat(64)}`,
      },
      migrationsPath: '/app/migrations',
    };
    const files = [
      ...FILES,
      { name: `${'9'.repeat(96)}.sql`, content: Buffer.from('select 1;\n') }, // a 100-byte name: the ustar prefix
    ];
    expect(packBundle(source, files).ref.sha256).toBe(
      'a54255c80e6a29b6bd8c691e0951a32ca27ebf83ea7418356352d322db1eff90',
    );
  });

  it('gives another address when one byte of one migration differs', () => {
    const changed = FILES.map((file, index) =>
      index === 1
        ? { ...file, content: Buffer.from(file.content.toString().replace('orders', 'orderz')) }
        : file,
    );
    expect(packBundle(SOURCE, changed).ref.sha256).not.toBe(packBundle(SOURCE, FILES).ref.sha256);
  });

  it('writes a plain ustar file that GNU tar lists with no owner, mode 0644 and mtime 0, and extracts byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bundle-tar-'));
    try {
      await writeFile(join(dir, 'bundle.tar'), packBundle(SOURCE, FILES).archive);
      const listing = await run('tar', ['--numeric-owner', '--utc', '-tvf', join(dir, 'bundle.tar')]);
      const lines = listing.stdout.trim().split('\n');
      expect(lines.map((line) => line.split(/\s+/).at(-1))).toEqual([
        'manifest.json',
        'migrations/001-users.sql',
        'migrations/002-orders.mjs',
        'migrations/010-big.sql',
      ]);
      for (const line of lines) expect(line).toMatch(/^-rw-r--r-- 0\/0 +\d+ 1970-01-01 00:00 /);

      await run('tar', ['-xf', join(dir, 'bundle.tar'), '-C', dir]);
      expect(await readdir(join(dir, 'migrations'))).toEqual(FILES.map((file) => file.name));
      for (const file of FILES)
        expect((await readFile(join(dir, 'migrations', file.name))).equals(file.content)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('packs subfolders: names are relative paths, sorted by code unit, extracted by GNU tar into folders', async () => {
    const nested = [
      { name: 'migration_lock.toml', content: Buffer.from('provider = "postgresql"\n') },
      { name: '20240102_posts/migration.sql', content: Buffer.from('create table posts ();\n') },
      { name: '20240101_init/migration.sql', content: Buffer.from('create table users ();\n') },
      { name: `${'d'.repeat(100)}/${'f'.repeat(96)}.sql`, content: Buffer.from('select 1;\n') },
      { name: '20240101_init-b.sql', content: Buffer.from('select 2;\n') },
    ];
    const packed = packBundle(SOURCE, nested);
    const names = packed.manifest.migrations.map((migration) => migration.name);
    // '-' sorts before '/': the order is the strings', not the folders'.
    expect(names).toEqual([
      '20240101_init-b.sql',
      '20240101_init/migration.sql',
      '20240102_posts/migration.sql',
      `${'d'.repeat(100)}/${'f'.repeat(96)}.sql`,
      'migration_lock.toml',
    ]);
    expect(packBundle(SOURCE, [...nested].reverse()).ref).toEqual(packed.ref);
    expect(unpackBundle(packed.archive, packed.ref.sha256).files).toEqual(
      names.map((name) => nested.find((file) => file.name === name)),
    );
    const dir = await mkdtemp(join(tmpdir(), 'bundle-tar-'));
    try {
      await writeFile(join(dir, 'bundle.tar'), packed.archive);
      await run('tar', ['-xf', join(dir, 'bundle.tar'), '-C', dir]);
      for (const file of nested) {
        expect((await readFile(join(dir, 'migrations', file.name))).equals(file.content)).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['../escape.sql', 'has a part ".."'],
    ['a/../../x', 'has a part ".."'],
    ['a/../x', 'has a part ".."'],
    ['a//b', 'has a part ""'],
    ['/001.sql', 'has a part ""'],
    ['sub/', 'has a part ""'],
    ['./001.sql', 'has a part "."'],
    ['a/b/c.sql', 'more than 2 levels deep'],
    ['sub\\..\\..\\x.sql', "contains '\\'"],
    ['..', 'is not a file name'],
    ['001\0.sql', 'a NUL character'],
    [`${'9'.repeat(98)}.sql`, 'too long for the bundle'],
    [`sub/${'9'.repeat(98)}.sql`, 'too long for the bundle'],
    [`${'d'.repeat(145)}/migration.sql`, 'too long for the bundle'],
  ])('refuses to pack a migration named %j', (name, problem) => {
    const pack = () => packBundle(SOURCE, [{ name, content: Buffer.from('select 1') }]);
    expect(pack).toThrow(MigrationInvalid);
    expect(pack).toThrow(problem);
  });

  it("keeps a Prisma migration folder's long name (up to 144 bytes) whole", () => {
    const long = `20231102143530_${'added_relationships_'.repeat(6)}`.slice(0, 144);
    const { archive } = packBundle(SOURCE, [
      { name: `${long}/migration.sql`, content: Buffer.from('select 1;\n') },
    ]);
    const { files } = unpackBundle(archive, sha256Of(archive));
    expect(files.map((file) => file.name)).toEqual([`${long}/migration.sql`]);
  });

  it('refuses a name that is also the folder of another', () => {
    const pack = () =>
      packBundle(SOURCE, [
        { name: 'init', content: Buffer.from('a file') },
        { name: 'init-2.sql', content: Buffer.from('select 1') },
        { name: 'init/migration.sql', content: Buffer.from('select 1') },
      ]);
    expect(pack).toThrow(MigrationInvalid);
    expect(pack).toThrow('"init" is also the folder of other files');
  });

  it('refuses two migrations with one name', () => {
    expect(() =>
      packBundle(
        SOURCE,
        [FILES[0], FILES[1], FILES[0]].filter((file) => file !== undefined),
      ),
    ).toThrow('is listed twice');
  });
});

describe('unpackBundle', () => {
  it('gives back the manifest and the files of a packed bundle', () => {
    const { archive, ref, manifest } = packBundle(SOURCE, FILES);
    const unpacked = unpackBundle(archive, ref.sha256);
    expect(unpacked.manifest).toEqual(manifest);
    expect(unpacked.manifest).toEqual(manifestFor(FILES));
    expect(unpacked.files).toEqual(FILES);
  });

  it('refuses an archive whose bytes are not its address, before reading anything in it', () => {
    const { archive, ref } = packBundle(SOURCE, FILES);
    const tampered = Buffer.from(archive);
    tampered[1024 + 3] = 'X'.charCodeAt(0); // in the first migration's content
    const error = refusal(tampered, ref.sha256);
    expect(error.name).toBe(ErrorName.BundleInvalid);
    expect(error.context).toEqual({ key: ref.key, problem: 'sha256 mismatch' });
    expect(error.message).toContain('Start the release again');
  });

  it('refuses a file whose checksum is not the one in the manifest', () => {
    const manifest = manifestFor(FILES);
    // As long as the original: only the checksum tells them apart.
    const swapped = FILES.map((file, index) =>
      index === 0 ? { ...file, content: Buffer.from('create table USERS (id int);\n') } : file,
    );
    const { archive, sha256 } = craft(
      manifest,
      swapped.map((file) => ({ path: `migrations/${file.name}`, content: file.content })),
    );
    expect(refusal(archive, sha256).context.problem).toBe(
      '001-users.sql does not match the checksum in the manifest',
    );
  });

  it.each([
    ['migrations/../escape.sql', '../escape.sql'],
    ['migrations/a/../../escape.sql', 'a/../../escape.sql'],
    ['migrations/a/../escape.sql', 'a/../escape.sql'],
    ['migrations/a//b.sql', 'a//b.sql'],
    ['migrations/a/b/c.sql', 'a/b/c.sql'],
    ['migrations/..', '..'],
  ])(
    'refuses an entry %j that would leave the folder or go too deep, even when the manifest lists it',
    (path, name) => {
      const content = Buffer.from('select 1');
      const manifest = {
        ...manifestFor([]),
        migrations: [{ name, sha256: sha256Of(content), bytes: content.length }],
      };
      const { archive, sha256 } = craft(manifest, [{ path, content }]);
      expect(refusal(archive, sha256).context.problem).toMatch(/not a file name|has a part|levels deep/);
    },
  );

  it('refuses a nested entry the manifest does not name, and a manifest naming a file and its folder', () => {
    const listed = { name: 'init/migration.sql', content: Buffer.from('select 1') };
    const extra = craft(manifestFor([listed]), [
      { path: `migrations/${listed.name}`, content: listed.content },
      { path: 'migrations/init/extra.sql', content: listed.content },
    ]);
    expect(refusal(extra.archive, extra.sha256).context.problem).toBe(
      'init/extra.sql is not in the manifest',
    );
    const clash = craft(manifestFor([{ name: 'init', content: listed.content }, listed]), []);
    expect(refusal(clash.archive, clash.sha256).context.problem).toBe(
      'the manifest names a file "init" that is also the folder of other files',
    );
  });

  it('refuses a manifest naming a file with a NUL character', () => {
    const content = Buffer.from('select 1');
    const manifest = {
      ...manifestFor([]),
      migrations: [{ name: 'a\0.sql', sha256: sha256Of(content), bytes: 8 }],
    };
    const { archive, sha256 } = craft(manifest, []);
    expect(refusal(archive, sha256).context.problem).toContain('NUL');
  });

  it('refuses an entry outside migrations/', () => {
    const { archive, sha256 } = craft(manifestFor([]), [{ path: '/etc/cron.d/x', content: Buffer.from('') }]);
    expect(refusal(archive, sha256).context.problem).toBe('unexpected entry "/etc/cron.d/x"');
  });

  it('refuses a file twice, a file the manifest does not list, and a listed file that is missing', () => {
    const [first, second] = FILES as [(typeof FILES)[0], (typeof FILES)[0]];
    const entry = (file: typeof first) => ({ path: `migrations/${file.name}`, content: file.content });
    const twice = craft(manifestFor([first]), [entry(first), entry(first)]);
    expect(refusal(twice.archive, twice.sha256).context.problem).toBe(
      '001-users.sql is in the archive twice',
    );
    const extra = craft(manifestFor([first]), [entry(first), entry(second)]);
    expect(refusal(extra.archive, extra.sha256).context.problem).toBe(
      '002-orders.mjs is not in the manifest',
    );
    const missing = craft(manifestFor([first, second]), [entry(first)]);
    expect(refusal(missing.archive, missing.sha256).context.problem).toBe('missing 002-orders.mjs');
  });

  it('refuses a manifest of another format version, or one listing a name twice', () => {
    const newer = craft({ ...manifestFor([]), formatVersion: 2 }, []);
    expect(refusal(newer.archive, newer.sha256).context.problem).toContain('another version of the pipeline');
    const first = FILES[0] as (typeof FILES)[0];
    const repeated = craft({ ...manifestFor([first, first]) }, []);
    expect(refusal(repeated.archive, repeated.sha256).context.problem).toContain('without repeats');
  });

  it.each([
    ['without its end blocks', (archive: Buffer) => archive.subarray(0, archive.length - 1024), /has no end/],
    ['cut inside a file', (archive: Buffer) => archive.subarray(0, 2048), /is cut short/],
    [
      'followed by bytes after its end',
      (archive: Buffer) => Buffer.concat([archive, Buffer.from('x')]),
      /end/,
    ],
  ])('refuses an archive %s, even when the hash asked for is that of those bytes', (_, alter, problem) => {
    const altered = alter(packBundle(SOURCE, FILES).archive);
    const refused = refusal(altered, sha256Of(altered)).context.problem;
    expect(refused).toMatch(/^unreadable archive: /);
    expect(refused).toMatch(problem);
  });

  it('refuses a content address that is not 64 hex digits', () => {
    const { archive } = packBundle(SOURCE, FILES);
    expect(refusal(archive, '../../etc').context.problem).toBe('bad content address');
  });
});
