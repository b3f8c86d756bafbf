import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RegistryAccess,
  readImageMigrations,
} from '../../../../functions/lib/registry/readImageMigrations.ts';
import { pushImage } from '../../../support/imageLayout.ts';
import {
  ENABLE_REGISTRY_TESTS,
  freePort,
  type Registry,
  registryToolsAvailable,
  startRegistry,
} from '../../../support/registry.ts';
import { startRegistryProxy } from '../../../support/registryProxy.ts';

const available = registryToolsAvailable();
const title = `registry failures, authentication and redirects${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

const LOOPBACK: RegistryAccess = { allowPlainHttpOnLoopback: true };
const CREDENTIALS = { username: 'puller', password: 'pull-secret-123' };

describe.skipIf(!available)(title, () => {
  let registry: Registry;
  let digest: string;
  beforeAll(async () => {
    registry = await startRegistry();
    digest = await pushImage(registry.host, 'app', 'v1', {
      layers: [{ files: { 'usr/bin/app': 'binary' } }, { files: { 'app/migrations/001.sql': 'one' } }],
    });
    // The same shape with other migrations: what a tampering proxy could serve instead.
    await pushImage(registry.host, 'evil', 'v1', {
      layers: [
        { files: { 'usr/bin/app': 'binary' } },
        { files: { 'app/migrations/001.sql': 'drop table users;' } },
      ],
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  /** A fetch that answers `replacement`'s response for URLs ending like `original`: what a tampering proxy would do. */
  function swapping(original: string, replacement: string): typeof fetch {
    return async (input, init) => {
      const url = String(input);
      if (!url.endsWith(original)) return fetch(input, init);
      const response = await fetch(url.replace(original, replacement), init);
      const swapped = await fetch(input, init);
      await swapped.body?.cancel();
      // The body of the other one, under the headers (Docker-Content-Digest among them) of the one asked for.
      return new Response(response.body, { status: response.status, headers: swapped.headers });
    };
  }

  it('refuses a layer whose bytes do not hash to its digest, though they unpack fine', async () => {
    const manifest = async (repository: string, reference: string) =>
      (await fetch(`http://${registry.host}/v2/${repository}/manifests/${reference}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      }).then((response) => response.json())) as { layers: { digest: string }[] };
    const genuine = (await manifest('app', 'v1')).layers[1]?.digest as string;
    const evil = (await manifest('evil', 'v1')).layers[1]?.digest as string;
    const read = readImageMigrations(`${registry.host}/app:v1`, {
      access: { ...LOOPBACK, fetch: swapping(`/app/blobs/${genuine}`, `/evil/blobs/${evil}`) },
    });
    await expect(read).rejects.toMatchObject({
      name: 'ImageInvalid',
      context: { problem: `layer digest mismatch ${genuine}` },
    });
  });

  it('refuses a manifest that does not hash to the digest asked for, or to the one the registry states', async () => {
    const pinned = readImageMigrations(`${registry.host}/app@${digest}`, {
      access: { ...LOOPBACK, fetch: swapping(`/app/manifests/${digest}`, '/evil/manifests/v1') },
    });
    await expect(pinned).rejects.toMatchObject({
      name: 'ImageInvalid',
      context: { problem: 'manifest digest mismatch' },
    });
    const byTag = readImageMigrations(`${registry.host}/app:v1`, {
      access: { ...LOOPBACK, fetch: swapping('/app/manifests/v1', '/evil/manifests/v1') },
    });
    await expect(byTag).rejects.toMatchObject({
      name: 'ImageInvalid',
      context: { problem: 'manifest digest mismatch' },
    });
  });

  it('names an unknown repository or tag ImageNotFound', async () => {
    await expect(
      readImageMigrations(`${registry.host}/nothing:v1`, { access: LOOPBACK }),
    ).rejects.toMatchObject({ name: 'ImageNotFound', context: { status: 404 } });
    await expect(readImageMigrations(`${registry.host}/app:v9`, { access: LOOPBACK })).rejects.toMatchObject({
      name: 'ImageNotFound',
    });
  });

  it('names a registry that does not answer RegistryUnreachable', async () => {
    const closed = await freePort();
    await expect(
      readImageMigrations(`127.0.0.1:${closed}/app:v1`, { access: LOOPBACK }),
    ).rejects.toMatchObject({
      name: 'RegistryUnreachable',
      context: { registry: `127.0.0.1:${closed}`, code: 'ECONNREFUSED' },
    });
  });

  it('names a failing registry (5xx, 429) RegistryUnreachable, retried by the state machine', async () => {
    for (const status of [503, 429]) {
      const failing: typeof fetch = async () => new Response('busy', { status });
      const read = readImageMigrations(`${registry.host}/app:v1`, {
        access: { ...LOOPBACK, fetch: failing },
      });
      await expect(read).rejects.toMatchObject({ name: 'RegistryUnreachable', context: { status } });
    }
  });

  it('speaks HTTPS to a loopback registry unless plain HTTP is allowed', async () => {
    const read = readImageMigrations(`${registry.host}/app:v1`, { access: {} });
    await expect(read).rejects.toMatchObject({ name: 'RegistryUnreachable' });
  });

  it('gets a Bearer token with the credentials, and never sends the registry authorization to the blob storage', async () => {
    const proxy = await startRegistryProxy(registry.host, {
      auth: { scheme: 'bearer', ...CREDENTIALS },
      redirectBlobs: true,
    });
    try {
      const read = await readImageMigrations(`${proxy.host}/app:v1`, {
        access: { ...LOOPBACK, credentials: async () => CREDENTIALS },
      });
      expect(read.image.digest).toBe(digest);
      expect(read.files.map((file) => file.name)).toEqual(['001.sql']);
      const token = proxy.requests.filter((request) => request.origin === 'token');
      expect(token).toEqual([
        expect.objectContaining({ path: expect.stringContaining('scope=repository%3Aapp%3Apull') }),
      ]);
      const storage = proxy.requests.filter((request) => request.origin === 'storage');
      expect(storage.length).toBeGreaterThanOrEqual(3);
      expect(storage.filter((request) => request.authorization)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('answers a Basic challenge with the credentials, and calls refused credentials ImageNotFound without echoing them', async () => {
    const proxy = await startRegistryProxy(registry.host, { auth: { scheme: 'basic', ...CREDENTIALS } });
    try {
      const read = await readImageMigrations(`${proxy.host}/app:v1`, {
        access: { ...LOOPBACK, credentials: async () => CREDENTIALS },
      });
      expect(read.files.map((file) => file.name)).toEqual(['001.sql']);
      const wrong = { username: 'puller', password: 'wrong-secret-456' };
      const refused = readImageMigrations(`${proxy.host}/app:v1`, {
        access: { ...LOOPBACK, credentials: async () => wrong },
      });
      await expect(refused).rejects.toMatchObject({ name: 'ImageNotFound', context: { status: 401 } });
      const error: Error = await refused.then(
        () => new Error('read'),
        (caught: Error) => caught,
      );
      expect(JSON.stringify({ message: error.message, error })).not.toMatch(/wrong-secret|d3Jvbmct/);
    } finally {
      await proxy.stop();
    }
  });
});
