import { ImageInvalid, ImageNotFound, RegistryUnreachable } from '../errors.ts';
import { isLoopbackHost } from '../loopback.ts';
import { basicAuthorization, parseChallenge, type RegistryCredentials, tokenOf, tokenUrl } from './auth.ts';
import { formatImageReference, type ImageReference } from './reference.ts';

export type { RegistryCredentials } from './auth.ts';

export interface RegistryAccess {
  /** Injectable for tests and proxies; the global fetch by default. */
  fetch?: typeof fetch;
  /** Credentials for a registry host (ECR: `AWS` and an authorization token); undefined for anonymous. */
  credentials?: (registry: string) => Promise<RegistryCredentials | undefined>;
  /** Plain http:// only for loopback registries (127.0.0.0/8, ::1, localhost); https everywhere else. */
  allowPlainHttpOnLoopback?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * One repository of an OCI distribution registry (distribution-spec v1): authenticated GETs of its
 * manifests and blobs. Anonymous first; a 401's challenge says how to authenticate (a Bearer token
 * from the realm, with Basic credentials when there are any, or Basic directly), and the answer is
 * kept for the next requests. Redirects (ECR sends blobs to S3) are followed by hand so that the
 * Authorization header never leaves the registry's origin.
 */
export class RegistryClient {
  private authorization: string | undefined;
  private readonly fetch: typeof fetch;
  private readonly access: RegistryAccess;
  readonly reference: ImageReference;
  /** The reference as written in messages and error contexts. */
  readonly image: string;

  constructor(reference: ImageReference, access: RegistryAccess) {
    this.reference = reference;
    this.access = access;
    this.fetch = access.fetch ?? globalThis.fetch;
    this.image = formatImageReference(reference);
  }

  /** GET /v2/<repository>/manifests/<tag|digest>; a 404 means no such image. */
  async manifest(reference: string, accept: readonly string[]): Promise<Response> {
    return this.get(`manifests/${reference}`, { Accept: accept.join(', ') }, 'manifest');
  }

  /** GET /v2/<repository>/blobs/<digest>; the body is the caller's to read (and verify). */
  async blob(digest: string): Promise<Response> {
    return this.get(`blobs/${digest}`, {}, 'blob');
  }

  private async get(path: string, headers: Record<string, string>, what: 'manifest' | 'blob') {
    const url = new URL(`${this.baseUrl()}/v2/${this.reference.repository}/${path}`);
    let response = await this.send(url, headers);
    if (response.status === 401) {
      await response.body?.cancel();
      await this.authenticate(response.headers.get('www-authenticate'));
      response = await this.send(url, headers);
    }
    if (response.ok) return response;
    await response.body?.cancel();
    throw this.failure(response.status, what);
  }

  private baseUrl(): string {
    const host = new URL(`http://${this.reference.registry}`).hostname;
    const plain = this.access.allowPlainHttpOnLoopback === true && isLoopbackHost(host);
    return `${plain ? 'http' : 'https'}://${this.reference.registry}`;
  }

  private async send(url: URL, headers: Record<string, string>): Promise<Response> {
    let current = url;
    let authorization = this.authorization;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      this.refusePlainHttp(current);
      const response = await this.fetchOrUnreachable(current, {
        headers: { ...headers, ...(authorization ? { Authorization: authorization } : {}) },
        redirect: 'manual',
      });
      const location = response.headers.get('location');
      if (!REDIRECTS.has(response.status) || !location) return response;
      await response.body?.cancel();
      const next = new URL(location, current);
      // A presigned storage URL carries its own authorization; the registry's must not travel there.
      if (next.origin !== current.origin) authorization = undefined;
      current = next;
    }
    throw new ImageInvalid(
      `The registry ${this.reference.registry} redirected ${this.image} more than ${MAX_REDIRECTS} times. Check the registry (or the proxy in front of it).`,
      { image: this.image, problem: 'too many redirects' },
    );
  }

  private refusePlainHttp(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.access.allowPlainHttpOnLoopback && isLoopbackHost(url.hostname))
      return;
    throw new ImageInvalid(
      `The registry ${this.reference.registry} pointed the read of ${this.image} at ${url.protocol}//${url.host}; only HTTPS is used (plain HTTP only on loopback, locally). Serve the registry, its token service and its storage over HTTPS.`,
      { image: this.image, problem: `plain ${url.protocol} address` },
    );
  }

  private async fetchOrUnreachable(url: URL, init: RequestInit): Promise<Response> {
    try {
      return await this.fetch(url, init);
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      throw new RegistryUnreachable(
        `Could not reach the registry ${this.reference.registry}${typeof code === 'string' ? ` (${code})` : ''}. ` +
          'Check the host name, that it serves HTTPS, and the network path from where this runs (NAT gateway or VPC endpoints); the release retries.',
        { registry: this.reference.registry, ...(typeof code === 'string' ? { code } : {}) },
        { cause: error },
      );
    }
  }

  private async authenticate(header: string | null): Promise<void> {
    const challenge = parseChallenge(header);
    const credentials = await this.access.credentials?.(this.reference.registry);
    if (challenge?.scheme === 'basic' && credentials) {
      this.authorization = basicAuthorization(credentials);
      return;
    }
    const url = challenge?.scheme === 'bearer' ? tokenUrl(challenge, this.reference.repository) : undefined;
    if (!url) throw this.failure(401, 'manifest');
    this.refusePlainHttp(url);
    const response = await this.fetchOrUnreachable(url, {
      headers: credentials ? { Authorization: basicAuthorization(credentials) } : {},
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw this.failure(response.status, 'token');
    }
    const token = tokenOf(await response.json().catch(() => undefined));
    if (!token) throw this.failure(502, 'token');
    this.authorization = `Bearer ${token}`;
  }

  private failure(status: number, what: 'manifest' | 'blob' | 'token'): Error {
    const { registry, repository } = this.reference;
    if (status === 429 || status >= 500) {
      return new RegistryUnreachable(
        `The registry ${registry} answered HTTP ${status} for ${what === 'token' ? 'a pull token' : `a ${what} of ${this.image}`}; it is busy or failing. The release retries.`,
        { registry, status },
      );
    }
    if (status === 401 || status === 403) {
      return new ImageNotFound(
        `The registry ${registry} refused to let ${repository} be pulled (HTTP ${status}). Check that the repository exists and that ` +
          'the credentials may pull it (in AWS: ecr:GetAuthorizationToken, and ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository).',
        { image: this.image, status },
      );
    }
    if (status === 404 && what === 'manifest') {
      return new ImageNotFound(
        `The registry ${registry} has no image ${this.image}. Check the repository and the tag or digest, and that the push finished.`,
        { image: this.image, status },
      );
    }
    return new ImageInvalid(
      `The registry ${registry} answered HTTP ${status} for a ${what} of ${this.image} it lists. Push the image again.`,
      { image: this.image, problem: `HTTP ${status} for a ${what}` },
    );
  }
}
