/**
 * A streaming reader of the tar archives image layers are (POSIX ustar and pax, GNU long names and
 * base-256 sizes): it yields each entry's header and reads its content only when asked, skipping it
 * otherwise, so a layer of any size passes through in bounded memory.
 */

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'directory' | 'other' | 'unsupported';

export interface TarEntry {
  /** The name as archived (`app/x`, `./app/x`, `app/dir/`): the caller normalizes it. */
  name: string;
  type: TarEntryType;
  linkName: string;
  size: number;
  /** Reads the entry's content; call it before asking for the next entry, or the content is skipped. */
  content(): Promise<Buffer>;
}

/** The archive is not a readable tar: a bad checksum, a number that does not parse, an early end. */
class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

const BLOCK = 512;
/** pax headers and GNU long names hold paths: a megabyte of them is no real archive. */
const MAX_METADATA_BYTES = 1024 * 1024;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '5': 'directory',
  '3': 'other',
  '4': 'other',
  '6': 'other',
};

export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source);
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLinkName: string | undefined;
  for (;;) {
    const header = await reader.read(BLOCK);
    // An archive cut at a block boundary without its end marker is accepted, as GNU tar does.
    if (!header || header.every((byte) => byte === 0)) break;
    verifyChecksum(header);
    const flag = String.fromCharCode(header[156] ?? 0);
    const headerSize = readNumber(header, 124, 12);
    if (flag === 'x' || flag === 'L' || flag === 'K') {
      if (headerSize > MAX_METADATA_BYTES)
        throw new TarFormatError(`a ${flag} header of ${headerSize} bytes`);
      const data = await reader.readExactly(headerSize);
      await reader.skip(padding(headerSize));
      if (flag === 'x') pax = parsePax(data);
      else if (flag === 'L') longName = cString(data, 0, data.length);
      else longLinkName = cString(data, 0, data.length);
      continue;
    }
    const size = pax.size !== undefined ? Number(pax.size) : headerSize;
    if (!Number.isSafeInteger(size) || size < 0)
      throw new TarFormatError('an entry size that does not parse');
    let consumed = false;
    yield {
      name: pax.path ?? longName ?? ustarName(header),
      type: TYPES[flag] ?? (flag === 'g' ? 'other' : 'unsupported'),
      linkName: pax.linkpath ?? longLinkName ?? cString(header, 157, 100),
      size,
      content: async () => {
        if (consumed) throw new Error('the content of a tar entry is read once');
        consumed = true;
        // A copy: a view would keep the whole decompressed chunk it came from alive.
        return Buffer.from(await reader.readExactly(size));
      },
    };
    await reader.skip((consumed ? 0 : size) + padding(size));
    pax = {};
    longName = undefined;
    longLinkName = undefined;
  }
  // Whatever follows the end marker still belongs to the blob, whose digest covers every byte.
  await reader.drain();
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function ustarName(header: Buffer): string {
  const name = cString(header, 0, 100);
  // Only POSIX ustar ("ustar\0") has a prefix field; GNU's "ustar  " keeps other data there.
  const isUstar = header.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = isUstar ? cString(header, 345, 155) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function cString(buffer: Buffer, offset: number, length: number): string {
  const field = buffer.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** Octal text, or GNU base-256 (high bit of the first byte set) for values past octal's 8 GiB. */
function readNumber(header: Buffer, offset: number, length: number): number {
  const field = header.subarray(offset, offset + length);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError('a negative base-256 number');
    let value = first & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new TarFormatError('a base-256 number too large');
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`a number field "${text}" that is not octal`);
  return Number.parseInt(text, 8);
}

function verifyChecksum(header: Buffer): void {
  const recorded = readNumber(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Some old tars summed signed bytes; both are what POSIX tar readers accept.
  if (recorded !== unsigned && recorded !== signed) throw new TarFormatError('a header checksum mismatch');
}

/** pax records: `<length> <key>=<value>\n`, the length counting the whole record. */
function parsePax(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = Number.parseInt(data.subarray(offset, space).toString('latin1'), 10);
    if (
      space < 0 ||
      !Number.isSafeInteger(length) ||
      length <= space - offset ||
      offset + length > data.length
    ) {
      throw new TarFormatError('a malformed pax record');
    }
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    offset += length;
  }
  return records;
}

/** Exact reads and skips over a stream of chunks, copying only the bytes that are read. */
class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** `length` bytes, or undefined at a clean end of the stream. */
  async read(length: number): Promise<Buffer | undefined> {
    while (this.buffered < length && (await this.pull()));
    if (this.buffered === 0 && length > 0) return undefined;
    return this.take(length);
  }

  async readExactly(length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const data = await this.read(length);
    if (!data) throw new TarFormatError('the archive ends inside an entry');
    return data;
  }

  async skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      if (this.chunks.length === 0 && !(await this.pull()))
        throw new TarFormatError('the archive ends inside an entry');
      const first = this.chunks[0] as Buffer;
      const step = Math.min(left, first.length);
      this.consume(step);
      left -= step;
    }
  }

  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (await this.pull()) {
      this.chunks = [];
      this.buffered = 0;
    }
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    return true;
  }

  private take(length: number): Buffer {
    if (this.buffered < length) throw new TarFormatError('the archive ends inside an entry');
    if ((this.chunks[0] as Buffer).length < length) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    const data = (this.chunks[0] as Buffer).subarray(0, length);
    this.consume(length);
    return data;
  }

  private consume(length: number): void {
    const first = this.chunks[0] as Buffer;
    if (first.length === length) this.chunks.shift();
    else this.chunks[0] = first.subarray(length);
    this.buffered -= length;
  }
}
