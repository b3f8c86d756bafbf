import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { type LocalServer, startEmbeddedPostgres } from '../../cli/local/embeddedPostgres.ts';

const execute = promisify(execFile);

/** What the server presents: a certificate (see `startTlsServer`), or `none` for a server without TLS. */
export type ServerCertificate = 'localhost' | 'name-only' | 'other-host' | 'self-signed' | 'none';

/** The role that the server lets in over TLS only, as RDS does with rds.force_ssl. */
export const TLS_ONLY_ROLE = 'app';

export interface TlsServer {
  port: number;
  /** PEM file of the CA that signed all but `self-signed`. */
  caFile: string;
  /** A URL for the TLS-only role; the password percent-encoded unless given raw in `password`. */
  appUrl(options?: { host?: string; password?: string; query?: string }): string;
  /** The role's password. */
  appPassword: string;
  /** Presents `certificate` to every connection from now on. */
  use(certificate: ServerCertificate): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL (the embedded binaries) with certificates that openssl makes for the test: a CA;
 * signed by it, `localhost` for 127.0.0.1, 0.0.0.0 and localhost, `name-only` for the name localhost
 * alone, `other-host` for another name; `self-signed` for the right names, signed by no CA. Starts
 * without TLS.
 */
export async function startTlsServer(): Promise<TlsServer> {
  const root = await mkdtemp(join(tmpdir(), 'migration-pipeline-tls-'));
  try {
    // The server's user (postgres, when the tests run as root) must reach its folder and certificates.
    await chmod(root, 0o755);
    return await startIn(root);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function startIn(root: string): Promise<TlsServer> {
  const server = await startEmbeddedPostgres({ dir: join(root, 'server'), persistent: false });
  try {
    return await configure(root, server);
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function configure(root: string, server: LocalServer): Promise<TlsServer> {
  const port = Number(new URL(server.url).port);
  const appPassword = randomBytes(12).toString('hex');
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create role ${TLS_ONLY_ROLE} login password '${appPassword}'`);
    const [hba] = await admin<{ file: string }[]>`select current_setting('hba_file') as file`;
    const rules = await readFile(hba?.file ?? '', 'utf8');
    await writeFile(hba?.file ?? '', `hostnossl all ${TLS_ONLY_ROLE} all reject\n${rules}`);
  } finally {
    await admin.end();
  }
  // The server runs as the data folder's owner (postgres, when the tests run as root): its keys must be its own.
  const owner = await stat(join(root, 'server', 'pgdata'));
  const certificates = join(root, 'certificates');
  await makeCertificates(certificates, owner);

  const use = async (certificate: ServerCertificate) => {
    const settings: Record<string, string> =
      certificate === 'none'
        ? { ssl: 'off' }
        : {
            ssl: 'on',
            ssl_cert_file: join(certificates, `${certificate}.crt`),
            ssl_key_file: join(certificates, `${certificate}.key`),
          };
    const sql = postgres(server.url, { max: 1, onnotice: () => {} });
    try {
      for (const [name, value] of Object.entries(settings)) {
        await sql.unsafe(`alter system set ${name} = '${value}'`);
      }
      await sql`select pg_reload_conf()`;
    } finally {
      await sql.end();
    }
    await untilServed(server.url, settings);
  };
  await use('none');

  return {
    port,
    caFile: join(certificates, 'ca.crt'),
    appPassword,
    appUrl: ({ host = '127.0.0.1', password = encodeURIComponent(appPassword), query = '' } = {}) =>
      `postgres://${TLS_ONLY_ROLE}:${password}@${host}:${port}/postgres${query}`,
    use,
    async stop() {
      try {
        // Sessions that a failed test left open would hold the stop up until the hook timed out.
        const sql = postgres(server.url, { max: 1, onnotice: () => {} });
        await sql`
          select pg_terminate_backend(pid) from pg_stat_activity
          where backend_type = 'client backend' and pid <> pg_backend_pid()`;
        await sql.end();
        await server.stop();
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Waits until a new session sees the reloaded settings. The postmaster reloads its TLS and pg_hba
 * before it forks again, so the next connection after this one gets them.
 */
async function untilServed(url: string, settings: Record<string, string>): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const names = Object.keys(settings);
      const rows = await sql<{ name: string; setting: string }[]>`
        select name, setting from pg_settings where name in ${sql(names)}`;
      if (rows.every((row) => settings[row.name] === row.setting)) return;
    } finally {
      await sql.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`The test server did not take ${JSON.stringify(settings)} within 5 s.`);
}

async function makeCertificates(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await mkdir(dir);
  await chmod(dir, 0o755);
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execute('openssl', args);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const serverNames = 'subjectAltName=IP:127.0.0.1,IP:0.0.0.0,DNS:localhost';

  await openssl(
    'req',
    '-x509',
    ...newKey,
    '-days',
    '2',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-subj',
    '/CN=migration-pipeline test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const signed = [
    ['localhost', serverNames],
    ['name-only', 'subjectAltName=DNS:localhost'],
    ['other-host', 'subjectAltName=DNS:db.other.example'],
  ];
  for (const [name, names] of signed) {
    await openssl(
      'req',
      '-new',
      ...newKey,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      `/CN=${name}`,
    );
    await writeFile(file(`${name}.ext`), `${names}\n`);
    await openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      file(`${name}.crt`),
      '-extfile',
      file(`${name}.ext`),
    );
  }
  await openssl(
    'req',
    '-x509',
    ...newKey,
    '-days',
    '2',
    '-keyout',
    file('self-signed.key'),
    '-out',
    file('self-signed.crt'),
    '-subj',
    '/CN=localhost',
    '-addext',
    serverNames,
  );
  for (const name of ['localhost', 'name-only', 'other-host', 'self-signed']) {
    // PostgreSQL refuses a key that others may read.
    await chmod(file(`${name}.key`), 0o600);
    await chown(file(`${name}.key`), owner.uid, owner.gid);
  }
}
