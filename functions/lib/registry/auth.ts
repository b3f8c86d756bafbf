/** The registry's answer to an anonymous or expired request: how to authenticate (RFC 7235 `WWW-Authenticate`). */
export interface AuthChallenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; undefined for other schemes. */
export function parseChallenge(header: string | null): AuthChallenge | undefined {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header ?? '');
  const scheme = match?.[1]?.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of (match?.[2] ?? '').matchAll(
    /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g,
  )) {
    if (key) params[key.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
  }
  return { scheme, params };
}

export function basicAuthorization({ username, password }: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** The URL of the token request of a Bearer challenge; the scope defaults to pulling `repository`. */
export function tokenUrl(challenge: AuthChallenge, repository: string): URL | undefined {
  const { realm, service, scope } = challenge.params;
  if (!realm || !URL.canParse(realm)) return undefined;
  const url = new URL(realm);
  if (service) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope ?? `repository:${repository}:pull`);
  return url;
}

/** The token of a token server's JSON answer (`token`, or OAuth2's `access_token`). */
export function tokenOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { token, access_token: accessToken } = body as { token?: unknown; access_token?: unknown };
  if (typeof token === 'string' && token) return token;
  return typeof accessToken === 'string' && accessToken ? accessToken : undefined;
}
