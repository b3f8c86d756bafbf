/**
 * The smallest exact ustar (POSIX.1-1988) writer and reader the migrations bundle needs: regular
 * files only, every header field fixed except the path and the size, so that the same entries always
 * give the same bytes. GNU and BSD tar read what it writes.
 */

export interface TarEntry {
  path: string;
  content: Buffer;
}

const BLOCK = 512;
const NAME_BYTES = 100;
const PREFIX_BYTES = 155;
const MAX_SIZE = 8 ** 11 - 1; // eleven octal digits
const REGULAR_FILE = '0'.charCodeAt(0);

/** Field offsets of the ustar header. */
const FIELD = {
  name: 0,
  mode: 100,
  uid: 108,
  gid: 116,
  size: 124,
  mtime: 136,
  checksum: 148,
  typeflag: 156,
  magic: 257,
  version: 263,
  devmajor: 329,
  devminor: 337,
  prefix: 345,
} as const;

/** A tar file of `entries`, in the order given: mode 0644, owner 0:0, no owner names, mtime 0. */
export function writeTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    blocks.push(header(entry.path, entry.content.length), entry.content);
    blocks.push(Buffer.alloc(padding(entry.content.length)));
  }
  blocks.push(Buffer.alloc(2 * BLOCK)); // end of archive
  return Buffer.concat(blocks);
}

/** The entries of a tar written by writeTar; throws TarError on anything else (a truncated file, a link, a bad header). */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const block = archive.subarray(offset, offset + BLOCK);
    if (block.every((byte) => byte === 0)) {
      if (!archive.subarray(offset).every((byte) => byte === 0) || archive.length - offset < 2 * BLOCK) {
        throw new TarError(`the end of the archive at byte ${offset} is not two empty blocks`);
      }
      return entries;
    }
    const { path, size } = readHeader(block, offset);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new TarError(`${path} is cut short`);
    entries.push({ path, content: Buffer.from(archive.subarray(start, start + size)) });
    offset = start + size + padding(size);
  }
  throw new TarError('the archive has no end (it is truncated)');
}

export class TarError extends Error {
  override readonly name = 'TarError';
}

function header(path: string, size: number): Buffer {
  if (size > MAX_SIZE) throw new RangeError(`${path} is larger than a ustar entry can hold`);
  const { prefix, name } = splitPath(path);
  const block = Buffer.alloc(BLOCK);
  block.write(name, FIELD.name, 'utf8');
  block.write('0000644\0', FIELD.mode, 'ascii');
  block.write('0000000\0', FIELD.uid, 'ascii');
  block.write('0000000\0', FIELD.gid, 'ascii');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, FIELD.size, 'ascii');
  block.write('00000000000\0', FIELD.mtime, 'ascii');
  block[FIELD.typeflag] = REGULAR_FILE;
  block.write('ustar\0', FIELD.magic, 'ascii');
  block.write('00', FIELD.version, 'ascii');
  block.write('0000000\0', FIELD.devmajor, 'ascii');
  block.write('0000000\0', FIELD.devminor, 'ascii');
  block.write(prefix, FIELD.prefix, 'utf8');
  block.write(`${checksumOf(block).toString(8).padStart(6, '0')}\0 `, FIELD.checksum, 'ascii');
  return block;
}

function readHeader(block: Buffer, offset: number): { path: string; size: number } {
  const stored = octal(block, FIELD.checksum, 8);
  if (stored !== checksumOf(block)) throw new TarError(`the header at byte ${offset} has a wrong checksum`);
  if (block.toString('latin1', FIELD.magic, FIELD.magic + 8) !== 'ustar\x0000') {
    throw new TarError(`the header at byte ${offset} is not a ustar header`);
  }
  const name = text(block, FIELD.name, NAME_BYTES);
  const prefix = text(block, FIELD.prefix, PREFIX_BYTES);
  const path = prefix ? `${prefix}/${name}` : name;
  if (block[FIELD.typeflag] !== REGULAR_FILE) throw new TarError(`${path} is not a regular file`);
  const size = octal(block, FIELD.size, 12);
  if (size === undefined) throw new TarError(`${path} has an unreadable size`);
  return { path, size };
}

/** Whether a ustar header can hold the path (see `splitPath`). */
export function fitsUstarHeader(path: string): boolean {
  try {
    splitPath(path);
    return true;
  } catch {
    return false;
  }
}

/** ustar keeps a path of up to 100 bytes in `name`; a longer one is split at a slash into `prefix` and `name`. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= NAME_BYTES) return { prefix: '', name: path };
  for (let slash = path.indexOf('/'); slash > 0; slash = path.indexOf('/', slash + 1)) {
    const prefix = path.slice(0, slash);
    const name = path.slice(slash + 1);
    if (Buffer.byteLength(prefix) > PREFIX_BYTES) break;
    if (name && Buffer.byteLength(name) <= NAME_BYTES) return { prefix, name };
  }
  throw new RangeError(`${path} is too long for a ustar header`);
}

/** The header's bytes summed as unsigned, its checksum field counted as eight spaces. */
function checksumOf(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i < FIELD.checksum || i >= FIELD.checksum + 8) sum += block[i] ?? 0;
  }
  return sum;
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.toString('utf8', 0, end === -1 ? length : end);
}

function octal(block: Buffer, start: number, length: number): number | undefined {
  const digits = block.toString('latin1', start, start + length).replace(/[\0 ]+$/, '');
  return /^[0-7]+$/.test(digits) ? Number.parseInt(digits, 8) : undefined;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
