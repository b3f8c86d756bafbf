import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The migration tools measured beside ours, each run as its users run it (its own CLI, its own
 * folder layout), installed for the benchmark only into a cache folder (never dependencies of the
 * project): `node_modules/.cache/migration-pipeline-bench/peers`.
 */
export const PEER_VERSIONS = {
  dbmate: '2.36.0',
  'graphile-migrate': '1.4.1',
  'node-pg-migrate': '9.0.0',
  postgrator: '8.0.0',
  'postgrator-cli': '9.1.1',
  pg: '8.16.3',
} as const;

const root = new URL('..', import.meta.url).pathname;
const peersDir = join(root, 'node_modules', '.cache', 'migration-pipeline-bench', 'peers');

/** Installs the peers once (npm, from the registry); later runs reuse the folder. */
export function installPeers(log: (message: string) => void): void {
  const wanted = Object.entries(PEER_VERSIONS).map(([name, version]) => `${name}@${version}`);
  const stamp = join(peersDir, 'installed.json');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === JSON.stringify(wanted)) return;
  log(`installing the peers into ${peersDir.replace(root, '')}: ${wanted.join(', ')}`);
  mkdirSync(peersDir, { recursive: true });
  const npm = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', peersDir, ...wanted],
    { stdio: 'inherit' },
  );
  if (npm.status !== 0) throw new Error('npm could not install the benchmark peers');
  writeFileSync(stamp, JSON.stringify(wanted));
}

/** A migration as every tool can express it: plain SQL up and down. */
export interface Migration {
  up: string;
  down: string;
}

/** A command line, as a user would type it, with what it needs from the environment. */
export interface Invocation {
  command: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
}

export interface Tool {
  /** Shown in the tables: name and version. */
  label: string;
  /** Writes the migrations in the tool's own layout into a fresh folder (the tool's working directory). */
  write(migrations: readonly Migration[]): Promise<string>;
  up(cwd: string, url: string): Invocation;
  /** What it has for "what is applied and pending", if anything. */
  status?(cwd: string, url: string): Invocation;
  help: Invocation;
}

const node = process.execPath;
const bin = (name: string) => join(peersDir, 'node_modules', '.bin', name);
const peerVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(peersDir, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
const padded = (i: number, width: number) => String(i + 1).padStart(width, '0');

async function freshFolder(prefix: string, ...sub: string[]): Promise<{ cwd: string; dir: string }> {
  const cwd = await mkdtemp(join(tmpdir(), `bench-${prefix}-`));
  const dir = join(cwd, ...sub);
  await mkdir(dir, { recursive: true });
  return { cwd, dir };
}

/** dbmate's own layout, which ours reads natively too: `db/migrations/<version>_<name>.sql`. */
async function writeDbmateFolder(prefix: string, migrations: readonly Migration[]): Promise<string> {
  const { cwd, dir } = await freshFolder(prefix, 'db', 'migrations');
  for (const [i, m] of migrations.entries()) {
    await writeFile(
      join(dir, `2026010100${padded(i, 4)}_m${i + 1}.sql`),
      `-- migrate:up\n${m.up};\n\n-- migrate:down\n${m.down};\n`,
    );
  }
  return cwd;
}

function libpqUrl(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('sslmode', 'disable');
  return parsed.toString();
}

function pgEnv(url: string): Record<string, string> {
  const parsed = new URL(url);
  return {
    PGHOST: parsed.hostname,
    PGPORT: parsed.port,
    PGUSER: decodeURIComponent(parsed.username),
    PGPASSWORD: decodeURIComponent(parsed.password),
    PGDATABASE: parsed.pathname.slice(1),
  };
}

export const ours = (form: 'sql' | 'module' = 'sql'): Tool => {
  const cli = join(root, 'dist', 'cli', 'migration-pipeline.mjs');
  const run = (cwd: string, url: string, command: string): Invocation => ({
    command: node,
    args: [cli, 'migrate', command, '--dir', form === 'sql' ? 'db/migrations' : 'migrations'],
    cwd,
    env: { DATABASE_URL: url },
  });
  return {
    label: form === 'sql' ? 'migration-pipeline (SQL file)' : 'migration-pipeline (ley module)',
    write: (migrations) =>
      form === 'sql' ? writeDbmateFolder('ours', migrations) : writeLeyFolder(migrations),
    up: (cwd, url) => run(cwd, url, 'up'),
    status: (cwd, url) => run(cwd, url, 'status'),
    help: { command: node, args: [cli, '--help'], cwd: root },
  };
};

async function writeLeyFolder(migrations: readonly Migration[]): Promise<string> {
  const { cwd, dir } = await freshFolder('ley', 'migrations');
  for (const [i, m] of migrations.entries()) {
    await writeFile(
      join(dir, `${padded(i, 4)}-m${i + 1}.mjs`),
      `export async function up(sql) { await sql.unsafe(${JSON.stringify(m.up)}); }\n` +
        `export async function down(sql) { await sql.unsafe(${JSON.stringify(m.down)}); }\n`,
    );
  }
  return cwd;
}

export const stockLey = (): Tool => {
  const cli = createRequire(import.meta.url).resolve('ley/bin.js');
  const run = (cwd: string, url: string, command: string): Invocation => ({
    command: node,
    args: [cli, command, '--driver', 'postgres'],
    cwd,
    env: pgEnv(url),
  });
  return {
    label: `ley ${createRequire(import.meta.url)('ley/package.json').version} (postgres driver)`,
    write: writeLeyFolder,
    up: (cwd, url) => run(cwd, url, 'up'),
    status: (cwd, url) => run(cwd, url, 'status'),
    help: { command: node, args: [cli, '--help'], cwd: root },
  };
};

export const dbmate = (): Tool => {
  // The binary the npm package ships, as its launcher runs it (the launcher itself is a Node script).
  const binary = join(peersDir, 'node_modules', '@dbmate', 'linux-x64', 'bin', 'dbmate');
  const run = (cwd: string, url: string, command: string): Invocation => ({
    command: binary,
    args: ['--no-dump-schema', command],
    cwd,
    env: { DATABASE_URL: libpqUrl(url) },
  });
  return {
    label: `dbmate ${peerVersion('dbmate')}`,
    write: (migrations) => writeDbmateFolder('dbmate', migrations),
    up: (cwd, url) => run(cwd, url, 'up'),
    status: (cwd, url) => run(cwd, url, 'status'),
    help: { command: binary, args: ['--help'], cwd: root },
  };
};

export const graphileMigrate = (): Tool => {
  const run = (cwd: string, url: string, command: string): Invocation => ({
    command: bin('graphile-migrate'),
    args: [command],
    cwd,
    // Its settings require a shadow database even for commands that never use it.
    env: { DATABASE_URL: url, SHADOW_DATABASE_URL: `${url}_shadow` },
  });
  return {
    label: `graphile-migrate ${peerVersion('graphile-migrate')}`,
    async write(migrations) {
      const { cwd, dir } = await freshFolder('graphile', 'migrations', 'committed');
      await writeFile(join(cwd, '.gmrc'), '{}\n');
      // Committed migrations carry a hash chain; written with graphile-migrate's own functions, as
      // `graphile-migrate commit` would write them.
      const require = createRequire(join(peersDir, 'node_modules', 'graphile-migrate', 'package.json'));
      const { calculateHash } = require('./dist/hash.js');
      const { serializeMigration } = require('./dist/migration.js');
      let previous: string | null = null;
      for (const [i, m] of migrations.entries()) {
        const body = `${m.up};`;
        const hash: string = calculateHash(body, previous);
        await writeFile(
          join(dir, `${padded(i, 6)}.sql`),
          serializeMigration(body, { Previous: previous ?? '-', Hash: hash }),
        );
        previous = hash;
      }
      return cwd;
    },
    up: (cwd, url) => run(cwd, url, 'migrate'),
    status: (cwd, url) => run(cwd, url, 'status'),
    help: { command: bin('graphile-migrate'), args: ['--help'], cwd: root },
  };
};

export const nodePgMigrate = (): Tool => ({
  label: `node-pg-migrate ${peerVersion('node-pg-migrate')}`,
  async write(migrations) {
    const { cwd, dir } = await freshFolder('node-pg-migrate', 'migrations');
    for (const [i, m] of migrations.entries()) {
      await writeFile(
        join(dir, `${1_700_000_000_000 + i}_m${i + 1}.sql`),
        `-- Up Migration\n${m.up};\n-- Down Migration\n${m.down};\n`,
      );
    }
    return cwd;
  },
  up: (cwd, url) => ({
    command: bin('node-pg-migrate'),
    args: ['up', '-m', 'migrations'],
    cwd,
    env: { DATABASE_URL: url },
  }),
  help: { command: bin('node-pg-migrate'), args: ['--help'], cwd: root },
});

export const postgrator = (): Tool => ({
  label: `postgrator ${peerVersion('postgrator')} (postgrator-cli ${peerVersion('postgrator-cli')})`,
  async write(migrations) {
    const { cwd, dir } = await freshFolder('postgrator', 'migrations');
    for (const [i, m] of migrations.entries()) {
      await writeFile(join(dir, `${padded(i, 4)}.do.m${i + 1}.sql`), `${m.up};\n`);
      await writeFile(join(dir, `${padded(i, 4)}.undo.m${i + 1}.sql`), `${m.down};\n`);
    }
    return cwd;
  },
  up(cwd, url) {
    const parsed = new URL(url);
    return {
      command: bin('postgrator'),
      args: [
        '--no-config',
        `--host=${parsed.hostname}`,
        `--port=${parsed.port}`,
        `--database=${parsed.pathname.slice(1)}`,
        `--username=${decodeURIComponent(parsed.username)}`,
        `--password=${decodeURIComponent(parsed.password)}`,
        '--migration-pattern=migrations/*',
      ],
      cwd,
    };
  },
  help: { command: bin('postgrator'), args: ['--help'], cwd: root },
});

/** Runs an invocation to its end; resolves with its wall time, rejects with its output on failure. */
export function run(invocation: Invocation): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      invocation.command,
      invocation.args,
      {
        cwd: invocation.cwd,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...invocation.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${invocation.command} ${invocation.args[0]}: ${stderr || stdout}`));
        else resolve(performance.now() - started);
      },
    );
  });
}
