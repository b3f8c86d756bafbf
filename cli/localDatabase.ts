import { parseConnectionUrl } from '../functions/lib/db/connectionUrl.ts';
import { isLoopbackHost } from '../functions/lib/loopback.ts';

/**
 * Whether a connection URL points at this machine: localhost, a loopback address, or a Unix socket
 * (no host, or a `host=/path` parameter). That is a developer's own database. Anything else, or a
 * URL that cannot be read, may be shared: commands that wipe or rewrite history ask first, or refuse.
 */
export function isLocalDatabase(url: string): boolean {
  const parsed = parseConnectionUrl(url);
  if (!(parsed instanceof URL)) return false;
  const socketDir = parsed.searchParams.get('host');
  if (socketDir !== null) return socketDir.startsWith('/');
  return parsed.hostname === '' || isLoopbackHost(parsed.hostname);
}
