import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * A loopback front for the test registry that behaves like the registries in production: it
 * demands a Bearer token (issued by its /token realm for Basic credentials, as Docker Hub and
 * GitLab do) or Basic credentials (as ECR does), and can send blob downloads to a storage server
 * of another origin (as ECR sends them to S3). It records what each request carried.
 */

export interface ProxyRequest {
  origin: 'registry' | 'storage' | 'token';
  method: string;
  path: string;
  authorization?: string;
}

export interface RegistryProxy {
  /** `localhost:<port>`: a loopback name other than the storage's 127.0.0.1, so a different origin. */
  host: string;
  requests: ProxyRequest[];
  stop(): Promise<void>;
}

export interface ProxyOptions {
  auth?: { scheme: 'bearer' | 'basic'; username: string; password: string };
  redirectBlobs?: boolean;
}

const TOKEN = 'test-registry-token';

export async function startRegistryProxy(upstream: string, options: ProxyOptions): Promise<RegistryProxy> {
  const requests: ProxyRequest[] = [];
  const record = (origin: ProxyRequest['origin'], request: IncomingMessage) =>
    requests.push({
      origin,
      method: request.method ?? 'GET',
      path: request.url ?? '/',
      ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
    });
  const storage = await listen(async (request, response) => {
    record('storage', request);
    await forward(upstream, request, response);
  });
  const storageHost = `127.0.0.1:${port(storage)}`;
  const { auth } = options;
  const basic = auth && `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  let registryHost = '';
  const registry = await listen(async (request, response) => {
    const path = request.url ?? '/';
    if (path.startsWith('/token')) {
      record('token', request);
      const granted = request.headers.authorization === basic;
      response.writeHead(granted ? 200 : 401, { 'content-type': 'application/json' });
      response.end(granted ? JSON.stringify({ token: TOKEN, expires_in: 300 }) : '{}');
      return;
    }
    record('registry', request);
    const expected = auth?.scheme === 'bearer' ? `Bearer ${TOKEN}` : basic;
    if (expected && request.headers.authorization !== expected) {
      const challenge =
        auth?.scheme === 'bearer'
          ? `Bearer realm="http://${registryHost}/token",service="test-registry",scope="repository:${repositoryOf(path)}:pull"`
          : 'Basic realm="test-registry"';
      response.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
      response.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (options.redirectBlobs && path.includes('/blobs/')) {
      response.writeHead(307, { location: `http://${storageHost}${path}?X-Amz-Signature=presigned` });
      response.end();
      return;
    }
    await forward(upstream, request, response);
  });
  registryHost = `localhost:${port(registry)}`;
  return {
    host: registryHost,
    requests,
    async stop() {
      await Promise.all([close(registry), close(storage)]);
    },
  };
}

function repositoryOf(path: string): string {
  return /^\/v2\/(.+?)\/(?:manifests|blobs)\//.exec(path)?.[1] ?? '';
}

async function forward(upstream: string, request: IncomingMessage, response: ServerResponse) {
  const headers: Record<string, string> = {};
  if (typeof request.headers.accept === 'string') headers.accept = request.headers.accept;
  const path = (request.url ?? '/').replace(/\?.*$/, '');
  const answer = await fetch(`http://${upstream}${path}`, { method: request.method ?? 'GET', headers });
  const passed = ['content-type', 'content-length', 'docker-content-digest'].flatMap((name) => {
    const value = answer.headers.get(name);
    return value ? [[name, value] as const] : [];
  });
  response.writeHead(answer.status, Object.fromEntries(passed));
  if (answer.body) await pipeline(Readable.fromWeb(answer.body), response);
  else response.end();
}

async function listen(handle: (request: IncomingMessage, response: ServerResponse) => Promise<void>) {
  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function port(server: Server): number {
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('not listening');
  return address.port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
