import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar } from '../../../../functions/lib/registry/tar.ts';
import { materialize } from '../../../support/imageLayout.ts';

const LONG = `dir-${'d'.repeat(100)}/file-${'f'.repeat(80)}.sql`;

/** The archive cut into chunks of `size` bytes, counting how many the reader pulled. */
function chunked(archive: Buffer, size: number) {
  const source = { pulled: 0, total: Math.ceil(archive.length / size) };
  const chunks = async function* () {
    for (let offset = 0; offset < archive.length; offset += size) {
      source.pulled++;
      yield archive.subarray(offset, offset + size);
    }
  };
  return { source, chunks: chunks() };
}

/** Every entry, with the content of regular files (the others skipped). */
async function entriesOf(chunks: AsyncIterable<Uint8Array>) {
  const entries = [];
  for await (const entry of readTar(chunks)) {
    const content = entry.type === 'file' ? (await entry.content()).toString('utf8') : undefined;
    entries.push({
      name: entry.name.replace(/\/$/, ''),
      type: entry.type,
      linkName: entry.linkName,
      content,
    });
  }
  return entries;
}

/** A one-block ustar header for `name` holding `size` bytes, the size field written by `writeSize`. */
function header(name: string, writeSize: (field: Buffer) => void): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  writeSize(block.subarray(124, 136));
  block.write('0', 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

describe('readTar', () => {
  let root: string;
  const archives: Record<string, Buffer> = {};
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tar-test-'));
    await materialize(root, {
      [LONG]: 'long',
      'a/short.sql': 'short',
      'a/hard.sql': { hardlink: 'a/short.sql' },
      'a/soft.sql': { symlink: `../${LONG}` },
      'a/empty': { directory: true },
    });
    for (const format of ['gnu', 'pax']) {
      archives[format] = execFileSync('tar', [
        `--format=${format}`,
        '--sort=name',
        '-C',
        root,
        '-cf',
        '-',
        '.',
      ]);
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each(['gnu', 'pax'])(
    'reads the names, links and contents of a %s archive, whatever the chunking',
    async (format) => {
      const archive = archives[format] as Buffer;
      const expected = [
        { name: '.', type: 'directory', linkName: '', content: undefined },
        { name: './a', type: 'directory', linkName: '', content: undefined },
        { name: './a/empty', type: 'directory', linkName: '', content: undefined },
        { name: './a/hard.sql', type: 'file', linkName: '', content: 'short' },
        { name: './a/short.sql', type: 'hardlink', linkName: './a/hard.sql', content: undefined },
        { name: './a/soft.sql', type: 'symlink', linkName: `../${LONG}`, content: undefined },
        { name: `./${LONG.split('/')[0]}`, type: 'directory', linkName: '', content: undefined },
        { name: `./${LONG}`, type: 'file', linkName: '', content: 'long' },
      ];
      for (const size of [1, 7, 512, 65536]) {
        const { chunks } = chunked(archive, size);
        expect(await entriesOf(chunks)).toEqual(expected);
      }
    },
  );

  it('skips contents it is not asked for and reads the stream to its end (the digest covers every byte)', async () => {
    const { source, chunks } = chunked(Buffer.concat([archives.gnu as Buffer, Buffer.alloc(4096)]), 100);
    const names = [];
    for await (const entry of readTar(chunks)) names.push(entry.name);
    expect(names).toContain(`./${LONG}`);
    expect(source.pulled).toBe(source.total);
  });

  it('reads a base-256 size (GNU, for files past 8 GiB)', async () => {
    const block = header('big.sql', (field) => {
      field[0] = 0x80;
      field.writeUInt32BE(5, 8);
    });
    const archive = Buffer.concat([block, Buffer.from('hello'), Buffer.alloc(507), Buffer.alloc(1024)]);
    expect(await entriesOf(chunked(archive, 512).chunks)).toEqual([
      { name: 'big.sql', type: 'file', linkName: '', content: 'hello' },
    ]);
  });

  it('refuses a header whose checksum does not match, and an archive cut inside an entry', async () => {
    const corrupt = Buffer.from(archives.gnu as Buffer);
    corrupt[10] = (corrupt[10] ?? 0) ^ 0x01;
    await expect(entriesOf(chunked(corrupt, 512).chunks)).rejects.toThrow(/checksum/);
    const block = header('cut.sql', (field) => field.write('00000001000\0', 'latin1'));
    const cut = Buffer.concat([block, Buffer.from('only a few bytes')]);
    await expect(entriesOf(chunked(cut, 512).chunks)).rejects.toThrow(/ends inside an entry/);
  });
});
