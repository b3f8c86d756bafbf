import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli.ts';
import { migrationsDir } from '../support/migrationsDir.ts';
import { startTlsServer, type TlsServer } from '../support/tlsServer.ts';

const execute = promisify(execFile);

describe('migration-pipeline against a TLS server, as a person runs it', () => {
  let server: TlsServer;
  let cwd: string;
  beforeAll(async () => {
    server = await startTlsServer();
    cwd = await migrationsDir({});
    await mkdir(join(cwd, 'migrations'));
  });
  afterAll(async () => {
    await server?.stop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  /** `migration-pipeline migrate status` with these variables set. */
  const status = (variables: Record<string, string>) =>
    runCliProcess(['migrate', 'status'], { variables, cwd });

  it('DATABASE_TLS=verify-full with DATABASE_CA_BUNDLE connects over verified TLS, and says so', async () => {
    await server.use('localhost');

    const run = await status({
      DATABASE_URL: server.appUrl(),
      DATABASE_TLS: 'verify-full',
      DATABASE_CA_BUNDLE: server.caFile,
    });

    expect(run.stderr).toContain(
      `Database: postgres://app@127.0.0.1:${server.port}/postgres (DATABASE_URL, TLS verify-full)`,
    );
    expect(run.code).toBe(0);
  });

  it('verify-full against a certificate for another host name is TlsError, naming what to do', async () => {
    await server.use('other-host');

    const run = await status({
      DATABASE_URL: server.appUrl(),
      DATABASE_TLS: 'verify-full',
      DATABASE_CA_BUNDLE: server.caFile,
    });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TlsError: ');
    expect(run.stderr).toContain("The server's certificate does not name this host");
  });

  it('a self-signed certificate is TlsError under verify-ca; require connects', async () => {
    await server.use('self-signed');
    const withMode = (mode: string) => ({
      DATABASE_URL: server.appUrl(),
      DATABASE_TLS: mode,
      DATABASE_CA_BUNDLE: server.caFile,
    });

    const verified = await status(withMode('verify-ca'));
    const required = await status(withMode('require'));

    expect(verified.code).toBe(1);
    expect(verified.stderr).toContain('TlsError: TLS to postgres://app@127.0.0.1');
    expect(verified.stderr).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(required.code).toBe(0);
  });

  it('DATABASE_TLS=require against a server without TLS is TlsError, not DatabaseUnreachable', async () => {
    await server.use('none');

    const run = await status({ DATABASE_URL: server.appUrl(), DATABASE_TLS: 'require' });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `TlsError: postgres://app@127.0.0.1:${server.port}/postgres does not offer TLS`,
    );
    expect(run.stderr).not.toContain('DatabaseUnreachable');
  });

  it('a host that is not loopback gets verified TLS without being asked', async () => {
    await server.use('localhost');
    // 0.0.0.0 reaches this machine's server under a name that is not loopback.
    const url = server.appUrl({ host: '0.0.0.0' });

    const untrusted = await status({ DATABASE_URL: url });
    const trusted = await status({ DATABASE_URL: url, DATABASE_CA_BUNDLE: server.caFile });

    expect(untrusted.stderr).toContain('(DATABASE_URL, TLS verify-full)');
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('set DATABASE_CA_BUNDLE to the PEM file of the CA');
    expect(trusted.code).toBe(0);
  });

  it("ley's own CLI with our driver takes DATABASE_TLS and DATABASE_CA_BUNDLE too", async () => {
    await server.use('localhost');
    const migrations = join(cwd, 'migrations');
    const ley = [resolve('node_modules/ley/bin.js'), 'up', '--dir', '.', '--driver'];

    const { stdout } = await execute(
      process.execPath,
      [...ley, resolve('functions/lib/migrations/leyDriver.ts')],
      {
        cwd: migrations,
        env: {
          ...process.env,
          // Not loopback, so that only DATABASE_CA_BUNDLE makes the certificate trusted.
          DATABASE_URL: server.appUrl({ host: '0.0.0.0' }),
          DATABASE_TLS: 'verify-full',
          DATABASE_CA_BUNDLE: server.caFile,
          MIGRATIONS_DIR: migrations,
        },
        timeout: 60_000,
      },
    );

    expect(stdout).toContain('All caught up');
  });

  it('a DATABASE_TLS the CLI does not know is refused, listing the modes', async () => {
    const run = await status({ DATABASE_URL: server.appUrl(), DATABASE_TLS: 'verify' });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'InvalidInput: DATABASE_TLS must be one of disable, require, verify-ca, verify-full',
    );
  });
});
