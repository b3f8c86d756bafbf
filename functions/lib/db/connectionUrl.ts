import { InvalidInput } from '../errors.ts';
import {
  defaultTlsMode,
  readCaBundle,
  strongerTlsMode,
  type TlsMode,
  type TlsPolicy,
  type TlsSettings,
  tlsModeOfSslmode,
} from './tls.ts';

/**
 * postgres:// URLs: read, redacted for messages, and given the TLS that DATABASE_TLS and
 * DATABASE_CA_BUNDLE ask for. A URL may hold a password, so nothing here ever quotes one.
 */

const SCHEME = /^postgres(?:ql)?:\/\//i;

/** A URL's parts as its punctuation places them, without decoding anything. */
interface UrlStructure {
  credentials: string | undefined;
  /** host:port, or several separated by commas. */
  authority: string;
  database: string;
}

function structureOf(text: string): UrlStructure | undefined {
  const scheme = SCHEME.exec(text);
  if (!scheme) return undefined;
  const rest = text.slice(scheme[0].length);
  // Credentials end at the LAST @: a password may hold an unencoded / ? # : or @, a host never holds @.
  const at = rest.lastIndexOf('@');
  const location = rest.slice(at + 1);
  const authority = location.split(/[/?#]/, 1)[0] ?? '';
  const database = /^\/([^?#]*)/.exec(location.slice(authority.length))?.[1] ?? '';
  return { credentials: at === -1 ? undefined : rest.slice(0, at), authority, database };
}

const HOST_AND_PORT = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+)(?::(\d+))?$/i;

/**
 * The server and database a URL points at, for messages and logs: `postgres://user@host:port/database`.
 * Read by structure, not by URL parsing (which misreads a password holding / ? or # and would show
 * it as host, port or path); the password and the query (which may hold `password=`) never appear.
 * Every URL that is printed or logged goes through here.
 */
export function redactConnectionUrl(text: string): string {
  const structure = structureOf(text.trim());
  if (!structure) return 'a database URL that is not postgres://… (not shown: it may hold a password)';
  const hosts = (structure.authority || 'localhost').split(',').map((entry) => HOST_AND_PORT.exec(entry));
  if (hosts.some((match) => !match)) {
    return 'a postgres:// URL whose host and port cannot be read (not shown: it may hold a password)';
  }
  const location = hosts.map((match) => `${match?.[1]}:${match?.[2] ?? '5432'}`).join(',');
  const user = structure.credentials?.split(':', 1)[0] ?? '';
  // What stands before the first : is the user name, unless it holds what only a password would.
  const shownUser = /^[^/?#\s]+$/.test(user) ? `${decodeOrKeep(user)}@` : '';
  return `postgres://${shownUser}${location}/${decodeOrKeep(structure.database)}`;
}

function decodeOrKeep(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Why a string cannot be used as a connection URL, in words that never quote it. */
export interface UnusableUrl {
  problem: 'not-a-postgres-url' | 'unencoded-character' | 'bad-escape' | 'bad-sslmode';
  reason: string;
}

/**
 * Parses a postgres:// URL, refusing one that URL parsing would misread: a / ? or # in the password
 * ends the host part early (postgres://app:2024/Summer@db reads as host "app", port 2024), so a
 * client would connect elsewhere. The structure and the parser must agree on the host.
 */
export function parseConnectionUrl(text: string): URL | UnusableUrl {
  const structure = structureOf(text.trim());
  if (!structure) {
    return {
      problem: 'not-a-postgres-url',
      reason: 'is not a postgres://user:password@host:port/database URL',
    };
  }
  let url: URL | undefined;
  try {
    url = new URL(text.trim());
  } catch {
    url = undefined;
  }
  if (!url || url.host.toLowerCase() !== structure.authority.toLowerCase()) {
    return {
      problem: 'unencoded-character',
      reason:
        'has a character in its user name, password or parameters that must be percent-encoded: ' +
        '/ as %2F, ? as %3F, # as %23, @ as %40, a space as %20 (e.g. with encodeURIComponent)',
    };
  }
  try {
    decodeURIComponent(url.hostname + url.username + url.password + url.pathname);
  } catch {
    return { problem: 'bad-escape', reason: 'has a % that starts no %-escape: write % itself as %25' };
  }
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null && !tlsModeOfSslmode(sslmode)) {
    return {
      problem: 'bad-sslmode',
      reason: `has sslmode=${sslmode}, which libpq does not know: use disable, allow, prefer, require, verify-ca or verify-full`,
    };
  }
  return url;
}

/** The refusal of a DATABASE_URL that cannot be used, naming it only redacted. */
export function unusableDatabaseUrl(text: string, unusable: UnusableUrl): InvalidInput {
  const shown =
    unusable.problem === 'not-a-postgres-url'
      ? '(not shown: it may hold a password)'
      : `(${redactConnectionUrl(text)})`;
  return new InvalidInput(`The database URL ${shown} ${unusable.reason}. Fix DATABASE_URL.`, {
    field: 'DATABASE_URL',
  });
}

function parseOrThrow(text: string): URL {
  const parsed = parseConnectionUrl(text);
  if (!(parsed instanceof URL)) throw unusableDatabaseUrl(text, parsed);
  return parsed;
}

/** Host, port, database, user and password of a parsed URL, decoded; empty when the URL leaves them out. */
export function urlParts(url: URL) {
  return {
    // Decoded: a Unix socket's folder is written %2F-encoded in the host (postgres://app@%2Ftmp/db).
    host: decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port: Number(url.port || 5432),
    database: decodeURIComponent(url.pathname.slice(1)),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

/** What the URL asks for: its sslmode, or verify-full for libpq's `sslrootcert=system`. */
export function requestedTlsMode(url: URL): TlsMode | undefined {
  if (url.searchParams.get('sslrootcert') === 'system') return 'verify-full';
  const sslmode = url.searchParams.get('sslmode');
  return sslmode ? tlsModeOfSslmode(sslmode) : undefined;
}

/**
 * How TLS is chosen for a URL, on every path: a configured mode (DATABASE_TLS, the stack's
 * DatabaseTls) is the floor that the URL's sslmode may raise and never lower; without one, the URL's
 * sslmode; without either, the host's default (prefer on loopback, verify-full elsewhere).
 */
export function tlsModeFor(url: URL, floor: TlsMode | undefined): TlsMode {
  const requested = requestedTlsMode(url);
  if (floor) return requested ? strongerTlsMode(floor, requested) : floor;
  return requested ?? defaultTlsMode(urlParts(url).host);
}

/**
 * The URL with DATABASE_TLS and DATABASE_CA_BUNDLE written in as libpq writes them (sslmode,
 * sslrootcert), so that every client downstream (the engine, verify's scratch database, the local
 * run's handlers) connects the same way; and the mode it will use. Unchanged without a policy.
 */
export function applyTlsPolicy(text: string, policy: TlsPolicy): { url: string; mode: TlsMode } {
  const url = parseOrThrow(text);
  const mode = tlsModeFor(url, policy.mode);
  if (!policy.mode && !policy.caFile) return { url: text, mode };
  url.searchParams.set('sslmode', mode);
  if (policy.caFile) url.searchParams.set('sslrootcert', policy.caFile);
  return { url: url.toString(), mode };
}

/**
 * What `connect` needs from a URL: its parts, its TLS (mode as `tlsModeFor` without a floor, CA
 * from `sslrootcert`), and, for the client's other parameters, the URL without TLS or credentials.
 */
export function resolveUrlTarget(text: string) {
  const url = parseOrThrow(text);
  const parts = urlParts(url);
  const caFile = url.searchParams.get('sslrootcert');
  const tls: TlsSettings = {
    mode: tlsModeFor(url, undefined),
    ...(caFile && caFile !== 'system' ? { ca: readCaBundle(caFile, 'sslrootcert') } : {}),
  };
  url.searchParams.delete('sslmode');
  url.searchParams.delete('sslrootcert');
  url.username = '';
  url.password = '';
  return { endpoint: { ...parts, tls }, clientUrl: url.toString() };
}
