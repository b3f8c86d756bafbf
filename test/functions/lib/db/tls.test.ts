import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDatabaseConfig } from '../../../../functions/lib/config.ts';
import { connect, type Sql } from '../../../../functions/lib/db/connection.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { databaseConnector } from '../../../../functions/lib/lambdaDatabase.ts';
import { startTlsServer, type TlsServer } from '../../../support/tlsServer.ts';

/** Why opening a session failed; a session that opened after all is closed, not left to the server. */
const failureOf = (opening: Promise<Sql>) =>
  opening.then(
    async (sql) => {
      await sql.end();
      return undefined;
    },
    (error: Error & { context?: { code?: string } }) => error,
  );

/** Whether the session is encrypted, as the server sees it; closes the session. */
async function encrypted(sql: Sql): Promise<boolean | undefined> {
  try {
    const [row] = await sql<{ ssl: boolean }[]>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`;
    return row?.ssl;
  } finally {
    await sql.end();
  }
}

describe('TLS to a real server with certificates from a CA the test makes', () => {
  let server: TlsServer;
  beforeAll(async () => {
    server = await startTlsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A session the way the database functions open one from DATABASE_URL (the local run), with `env`. */
  const connectWith = (env: Record<string, string>) =>
    databaseConnector(readDatabaseConfig({ DATABASE_CONNECT_TIMEOUT: '5s', ...env }), 'tls test')();

  it('DATABASE_URL honours DATABASE_TLS=verify-full and DATABASE_CA_BUNDLE, as libpq URL parameters do', async () => {
    await server.use('localhost');

    const viaEnvironment = await connectWith({
      DATABASE_URL: server.appUrl(),
      DATABASE_TLS: 'verify-full',
      DATABASE_CA_BUNDLE: server.caFile,
    });
    expect(await encrypted(viaEnvironment)).toBe(true);

    const viaUrl = await connect(
      server.appUrl({ query: `?sslmode=verify-full&sslrootcert=${server.caFile}` }),
    );
    expect(await encrypted(viaUrl)).toBe(true);
  });

  it('verify-full refuses a certificate issued for another host name; verify-ca accepts it', async () => {
    await server.use('other-host');
    const withMode = (mode: string) => ({
      DATABASE_URL: server.appUrl(),
      DATABASE_TLS: mode,
      DATABASE_CA_BUNDLE: server.caFile,
    });

    const error = await failureOf(connectWith(withMode('verify-full')));

    expect(error?.name).toBe(ErrorName.TlsError);
    expect(error?.context?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error?.message).toContain('does not name this host');
    expect(await encrypted(await connectWith(withMode('verify-ca')))).toBe(true);
  });

  it('verify-full checks the certificate against the host as given, an IP address against its IP entries', async () => {
    await server.use('name-only');
    const verifyFull = (host: string) => ({
      DATABASE_URL: server.appUrl({ host }),
      DATABASE_TLS: 'verify-full',
      DATABASE_CA_BUNDLE: server.caFile,
    });

    const byAddress = await failureOf(connectWith(verifyFull('127.0.0.1')));

    expect(byAddress?.name).toBe(ErrorName.TlsError);
    expect(byAddress?.message).toContain('IP: 127.0.0.1 is not in the cert');
    expect(await encrypted(await connectWith(verifyFull('localhost')))).toBe(true);
  });

  it('a self-signed certificate fails verify-ca and verify-full; require encrypts without checking it', async () => {
    await server.use('self-signed');
    const withMode = (mode: string) => ({
      DATABASE_URL: server.appUrl(),
      DATABASE_TLS: mode,
      DATABASE_CA_BUNDLE: server.caFile,
    });

    for (const mode of ['verify-ca', 'verify-full']) {
      const error = await failureOf(connectWith(withMode(mode)));
      expect(error?.name, mode).toBe(ErrorName.TlsError);
      expect(error?.message, mode).toContain("No trusted CA signed the server's certificate");
    }
    expect(await encrypted(await connectWith(withMode('require')))).toBe(true);
  });

  it('a TLS mode against a server without TLS is TlsError, not DatabaseUnreachable, on every path', async () => {
    await server.use('none');
    const secretEndpoint = {
      host: '127.0.0.1',
      port: server.port,
      database: 'postgres',
      username: 'app',
      password: server.appPassword,
      tls: { mode: 'require' as const },
    };

    const failures = [
      await failureOf(connect(secretEndpoint, { connectTimeoutSeconds: 5 })),
      await failureOf(connectWith({ DATABASE_URL: server.appUrl(), DATABASE_TLS: 'require' })),
    ];

    for (const error of failures) {
      expect(error?.name).toBe(ErrorName.TlsError);
      expect(error?.message).toContain('does not offer TLS');
      expect(error?.message).toContain('DATABASE_TLS=disable');
    }
  });

  it("a URL's sslmode raises DATABASE_TLS and never lowers it", async () => {
    await server.use('self-signed');
    const raised = await failureOf(
      connectWith({
        DATABASE_URL: server.appUrl({ query: '?sslmode=verify-full' }),
        DATABASE_TLS: 'require',
      }),
    );
    expect(raised?.name).toBe(ErrorName.TlsError);

    await server.use('localhost');
    const notLowered = await connectWith({
      DATABASE_URL: server.appUrl({ query: '?sslmode=disable' }),
      DATABASE_TLS: 'verify-full',
      DATABASE_CA_BUNDLE: server.caFile,
    });
    expect(await encrypted(notLowered)).toBe(true);
  });

  it('without DATABASE_TLS: TLS when offered on loopback, verified TLS for any other host', async () => {
    await server.use('localhost');
    // 0.0.0.0 reaches this machine's server under a name that is not loopback.
    const elsewhere = server.appUrl({ host: '0.0.0.0' });

    expect(await encrypted(await connectWith({ DATABASE_URL: server.appUrl() }))).toBe(true);
    expect(
      await encrypted(await connectWith({ DATABASE_URL: elsewhere, DATABASE_CA_BUNDLE: server.caFile })),
    ).toBe(true);
    const unverified = await failureOf(connectWith({ DATABASE_URL: elsewhere }));
    expect(unverified?.name).toBe(ErrorName.TlsError);
    expect(unverified?.message).toContain('set DATABASE_CA_BUNDLE');

    await server.use('none');
    const plaintext = await failureOf(connectWith({ DATABASE_URL: elsewhere }));
    expect(plaintext?.name).toBe(ErrorName.TlsError);
  });
});
