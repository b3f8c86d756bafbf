import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { resolve } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { InvalidInput } from '../errors.ts';
import { isLoopbackHost } from '../loopback.ts';

/**
 * TLS to the database, in libpq's sslmode words, weakest first: `prefer` encrypts when the server
 * offers TLS and falls back to plaintext; `require` encrypts without checking the certificate;
 * `verify-ca` checks that a trusted CA signed it; `verify-full` also checks that it names the host.
 */
export const TLS_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** What DATABASE_TLS may say. `prefer` is only the default for a loopback host: a policy that may fall back to plaintext is none. */
export const CONFIGURABLE_TLS_MODES: readonly TlsMode[] = ['disable', 'require', 'verify-ca', 'verify-full'];

export interface TlsSettings {
  mode: TlsMode;
  /** PEM bundle of the CAs to trust (e.g. AWS's RDS global bundle); without it, Node's trusted CAs. */
  ca?: string;
}

/** DATABASE_TLS and DATABASE_CA_BUNDLE as given: a floor for the mode, and the CA file to trust. */
export interface TlsPolicy {
  mode?: TlsMode;
  caFile?: string;
}

export function strongerTlsMode(a: TlsMode, b: TlsMode): TlsMode {
  return TLS_MODES.indexOf(a) >= TLS_MODES.indexOf(b) ? a : b;
}

/** Whether the mode refuses a server that does not speak TLS. */
export function requiresTls(mode: TlsMode): boolean {
  return TLS_MODES.indexOf(mode) >= TLS_MODES.indexOf('require');
}

/** A URL's `sslmode`, as a mode; libpq's `allow` (plaintext first) is taken as `prefer`, its nearest that tries TLS first. */
export function tlsModeOfSslmode(sslmode: string): TlsMode | undefined {
  if (sslmode === 'allow') return 'prefer';
  return (TLS_MODES as readonly string[]).includes(sslmode) ? (sslmode as TlsMode) : undefined;
}

/**
 * The mode when neither DATABASE_TLS nor the URL's sslmode says: a server on this machine (loopback,
 * or a Unix socket's folder, where PostgreSQL has no TLS) is used as it is, TLS when it offers it; a
 * server anywhere else only over TLS whose certificate names it.
 */
export function defaultTlsMode(host: string): TlsMode {
  return isLoopbackHost(host) || host.startsWith('/') ? 'prefer' : 'verify-full';
}

/** Reads DATABASE_TLS and DATABASE_CA_BUNDLE (a path relative to `cwd`), refusing what cannot work before anything connects. */
export function tlsPolicyFromEnv(env: Record<string, string | undefined>, cwd: string): TlsPolicy {
  const mode = env.DATABASE_TLS || undefined;
  if (mode !== undefined && !(CONFIGURABLE_TLS_MODES as readonly string[]).includes(mode)) {
    throw new InvalidInput(
      `DATABASE_TLS must be one of ${CONFIGURABLE_TLS_MODES.join(', ')}; got "${mode}". Unset it to take the default (verify-full, or prefer for a loopback host).`,
      { field: 'DATABASE_TLS' },
    );
  }
  const caFile = env.DATABASE_CA_BUNDLE ? resolve(cwd, env.DATABASE_CA_BUNDLE) : undefined;
  if (caFile) readCaBundle(caFile, 'DATABASE_CA_BUNDLE');
  return { ...(mode ? { mode: mode as TlsMode } : {}), ...(caFile ? { caFile } : {}) };
}

/** A PEM bundle of CA certificates; `source` names the setting that gave its path, for the message. */
export function readCaBundle(path: string, source: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidInput(
      `${source} names ${path}, which cannot be read (${(error as NodeJS.ErrnoException).code}). ` +
        "Give the path of a PEM file holding the CA certificate that signed the server's certificate (for RDS, global-bundle.pem).",
      { field: source },
      { cause: error },
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InvalidInput(
      `${source} names ${path}, which holds no PEM certificate ("-----BEGIN CERTIFICATE-----"). Give the CA bundle in PEM form.`,
      { field: source },
    );
  }
  return pem;
}

/** The `ssl` option of the `postgres` client for a mode, to a server reached as `host`. */
export function postgresSslOption(tls: TlsSettings, host: string) {
  const ca = tls.ca ? { ca: tls.ca } : {};
  switch (tls.mode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return tls.mode;
    case 'verify-ca':
      return { rejectUnauthorized: true, ...ca, checkServerIdentity: () => undefined };
    case 'verify-full':
      // Checked against the host as given: the client sends no server name for an IP address, and
      // Node would then check the certificate against "localhost".
      return {
        rejectUnauthorized: true,
        ...ca,
        checkServerIdentity: (_name: string, certificate: PeerCertificate) =>
          checkServerIdentity(host, certificate),
      };
  }
}

// PostgreSQL's SSLRequest: length 8, then the code 80877103. The server answers one byte, S or N.
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * Asks the server whether it speaks TLS, as every client does first: true (S), false (N), or
 * undefined when it cannot tell. Used after a failed connection only, so that a server without
 * TLS is named as such rather than as a network failure.
 */
export function serverOffersTls(host: string, port: number, timeoutMs: number): Promise<boolean | undefined> {
  return new Promise((answer) => {
    const socket = connectTcp({ host, port });
    const finish = (offers: boolean | undefined) => {
      socket.destroy();
      answer(offers);
    };
    socket.setTimeout(timeoutMs, () => finish(undefined));
    socket.once('error', () => finish(undefined));
    socket.once('connect', () => socket.write(SSL_REQUEST));
    socket.once('data', (data) => finish(data[0] === 0x53 ? true : data[0] === 0x4e ? false : undefined));
  });
}
