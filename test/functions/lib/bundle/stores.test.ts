import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packBundle, unpackBundle } from '../../../../functions/lib/bundle/bundle.ts';
import { materializeBundle } from '../../../../functions/lib/bundle/materialize.ts';
import { s3BundleStore } from '../../../../functions/lib/bundle/s3Store.ts';
import { type BundleStore, directoryBundleStore } from '../../../../functions/lib/bundle/store.ts';
import {
  BundleInvalid,
  BundleStoreUnreachable,
  ConfigurationInvalid,
} from '../../../../functions/lib/errors.ts';
import { DIGEST, REPOSITORY } from '../../../support/aws.ts';
import { type S3Server, s3ClientFor, startS3 } from '../../../support/s3.ts';

const SOURCE = { image: { repository: REPOSITORY, digest: DIGEST }, migrationsPath: '/app/migrations' };
let counter = 0;
/** A bundle no other test has written: stores are shared within a file. */
function freshBundle() {
  counter += 1;
  return packBundle(SOURCE, [
    { name: '001-a.sql', content: Buffer.from(`create table a${counter} (id int);\n`) },
    { name: '002-b.sql', content: Buffer.from('create table b (id int);\n') },
  ]);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: Error) => error,
  );
  if (!outcome) throw new Error('it succeeded');
  return outcome;
}

describe('s3BundleStore, on a real S3-compatible server', () => {
  let s3: S3Server;
  let store: BundleStore;
  let puts = 0;
  beforeAll(async () => {
    s3 = await startS3();
    store = s3BundleStore(s3.client, s3.bucket);
    s3.client.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'PutObjectCommand') puts += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countPuts' },
    );
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('gives back the bytes it was given, and they unpack', async () => {
    const { archive, ref, manifest } = freshBundle();
    await store.put(ref, archive);
    const object = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: ref.key }));
    expect(object.ContentLength).toBe(archive.length);
    const fetched = await store.get(ref);
    expect(fetched.equals(archive)).toBe(true);
    expect(unpackBundle(fetched, ref.sha256).manifest).toEqual(manifest);
  });

  it('hands a Lambda the migrations folder of a bundle in the bucket', async () => {
    const { archive, ref } = freshBundle();
    await store.put(ref, archive);
    const cacheRoot = await mkdtemp(join(tmpdir(), 'bundle-cache-'));
    try {
      const { dir, fromCache } = await materializeBundle(store, ref, cacheRoot);
      expect(fromCache).toBe(false);
      expect(await readdir(dir)).toEqual(['001-a.sql', '002-b.sql']);
      expect(await readFile(join(dir, '001-a.sql'), 'utf8')).toBe(`create table a${counter} (id int);\n`);
    } finally {
      await rm(cacheRoot, { recursive: true, force: true });
    }
  });

  it('does not upload a bundle the bucket already holds', async () => {
    const { archive, ref } = freshBundle();
    const before = puts;
    await store.put(ref, archive);
    await store.put(ref, archive);
    expect(puts - before).toBe(1);
  });

  it('writes over a damaged object at the bundle key', async () => {
    const { archive, ref } = freshBundle();
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: ref.key, Body: archive.subarray(0, 1024) }),
    );
    await store.put(ref, archive);
    expect((await store.get(ref)).equals(archive)).toBe(true);
  });

  it('answers a missing bundle with BundleInvalid, saying to start the release again', async () => {
    const { ref } = freshBundle();
    const error = await rejection(store.get(ref));
    expect(error).toBeInstanceOf(BundleInvalid);
    expect((error as BundleInvalid).context).toEqual({ key: ref.key, problem: 'not found' });
    expect(error.message).toContain(`s3://${s3.bucket}/${ref.key}`);
    expect(error.message).toContain('expired or was never written');
    expect(error.message).toContain('Start the release again');
  });

  it('answers an endpoint nobody listens on with BundleStoreUnreachable, on get and on put', async () => {
    const closed = s3BundleStore(s3ClientFor(`http://127.0.0.1:${await closedPort()}`), s3.bucket);
    const { archive, ref } = freshBundle();
    for (const attempt of [() => closed.get(ref), () => closed.put(ref, archive)]) {
      const error = await rejection(attempt());
      expect(error).toBeInstanceOf(BundleStoreUnreachable);
      expect((error as BundleStoreUnreachable).context).toEqual({
        store: `s3://${s3.bucket}`,
        code: 'ECONNREFUSED',
      });
    }
  });

  it('sends the archive with its SHA-256, which the bucket keeps', async () => {
    const { archive, ref } = freshBundle();
    let checksum: string | undefined;
    s3.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        checksum ??= request.headers?.['x-amz-checksum-sha256'];
        return next(args);
      },
      { step: 'finalizeRequest', name: 'readChecksum' },
    );
    try {
      await store.put(ref, archive);
    } finally {
      s3.client.middlewareStack.remove('readChecksum');
    }
    expect(checksum).toBe(Buffer.from(ref.sha256, 'hex').toString('base64'));
    const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: ref.key }));
    expect(object.ContentType).toBe('application/x-tar');
  });
});

describe('s3BundleStore, on an S3 endpoint that answers with an error', () => {
  let server: Server;
  let status = 503;
  let code = 'SlowDown';
  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/xml' });
      response.end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>as asked</Message></Error>`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it.each([
    [503, 'SlowDown', BundleStoreUnreachable],
    [500, 'InternalError', BundleStoreUnreachable],
    [403, 'AccessDenied', ConfigurationInvalid],
  ])('names HTTP %i %s as %o', async (answer, answerCode, expected) => {
    status = answer;
    code = answerCode;
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const store = s3BundleStore(s3ClientFor(endpoint), 'bucket');
    expect(await rejection(store.get(freshBundle().ref))).toBeInstanceOf(expected);
  });
});

describe('directoryBundleStore', () => {
  let dir: string;
  let store: BundleStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-store-'));
    store = directoryBundleStore(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the bundle at its key and gives back the same bytes', async () => {
    const { archive, ref } = freshBundle();
    await store.put(ref, archive);
    expect((await readFile(join(dir, ref.key))).equals(archive)).toBe(true);
    expect((await store.get(ref)).equals(archive)).toBe(true);
  });

  it('does not write a bundle it already holds, and writes over a damaged one', async () => {
    const { archive, ref } = freshBundle();
    await store.put(ref, archive);
    const written = await stat(join(dir, ref.key));
    await store.put(ref, archive);
    expect((await stat(join(dir, ref.key))).ino).toBe(written.ino); // a rewrite renames a new file in
    await writeFile(join(dir, ref.key), 'damaged');
    await store.put(ref, archive);
    expect((await store.get(ref)).equals(archive)).toBe(true);
  });

  it('answers a missing bundle with BundleInvalid, saying to start the release again', async () => {
    const error = await rejection(store.get(freshBundle().ref));
    expect(error).toBeInstanceOf(BundleInvalid);
    expect(error.message).toContain('Start the release again');
  });
});

/** A loopback port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
