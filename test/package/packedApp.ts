import { execFile } from 'node:child_process';
import { cp, mkdir, symlink } from 'node:fs/promises';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CliRun } from '../support/cli.ts';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Node 24 this repository runs on (its `node` devDependency). */
export const NODE24 = join(ROOT, 'node_modules', 'node', 'bin', 'node');

/** What the repository ignores (build output, local state): not sources of the package. */
const NOT_SOURCES = new Set([
  '.git',
  'node_modules',
  'dist',
  '.migration-pipeline',
  '.aws-sam',
  'coverage',
  'bench/.out',
]);

export interface PackedFile {
  path: string;
  mode: number;
}

/**
 * The environment an app's terminal would have: `node` on PATH is `nodeBinary`, nothing of this
 * repository's node_modules/.bin, none of the npm_* settings of the `npm test` running this (its
 * npm_config_local_prefix would point npm at this repository), no DATABASE_* or AWS_* of this machine.
 */
export function appEnvironment(
  nodeBinary: string,
  variables: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(
    ([name]) => !/^(npm_|DATABASE_|AWS_|INIT_CWD$)/i.test(name),
  );
  const path = (process.env.PATH ?? '').split(delimiter).filter((entry) => !entry.includes('node_modules'));
  return {
    ...Object.fromEntries(inherited),
    PATH: [dirname(nodeBinary), ...path].join(delimiter),
    ...variables,
  };
}

/**
 * Packs a copy of the repository's sources with `npm pack`, whose `prepare` script builds dist/ as a
 * git install's does. A copy, because other tests rebuild the repository's own dist/ meanwhile. The
 * copy uses the repository's node_modules (esbuild, and the Node 24 that runs the build).
 */
export async function packRepository(workDir: string): Promise<{ tarball: string; files: PackedFile[] }> {
  const copy = join(workDir, 'source');
  await cp(ROOT, copy, {
    recursive: true,
    filter: (source) => !NOT_SOURCES.has(relative(ROOT, source)),
  });
  await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  const env = appEnvironment(NODE24);
  await run('npm', ['pack', '--pack-destination', workDir], { cwd: copy, env });
  // The listing, without running prepare again: what the tarball just made holds.
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: copy,
    env,
  });
  const [{ filename, files }] = JSON.parse(stdout) as [{ filename: string; files: PackedFile[] }];
  return { tarball: join(workDir, filename), files };
}

/** An empty app (`npm init -y`) with the tarball installed as a devDependency, as its README says. */
export async function installInApp(dir: string, tarball: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const env = appEnvironment(NODE24);
  await run('npm', ['init', '-y'], { cwd: dir, env });
  // npm init writes "type": "commonjs", under which Node reads a scaffolded .ts migration (ESM
  // syntax) as CommonJS: the app's migrations are ES modules, so the app says so.
  await run('npm', ['pkg', 'set', 'type=module'], { cwd: dir, env });
  await run('npm', ['install', '--save-dev', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
    cwd: dir,
    env,
    timeout: 120_000,
  });
}

/** Node 22 from the npm registry (its `node` package), cached by npm between runs. */
export async function node22FromRegistry(cwd: string): Promise<string> {
  const { stdout } = await run(
    'npm',
    ['exec', '--yes', '--package=node@22', '--', 'node', '--print', 'process.execPath'],
    { cwd, env: appEnvironment(NODE24), timeout: 120_000 },
  );
  return stdout.trim();
}

/**
 * Runs the app's installed CLI, as a person types `npx migration-pipeline …` in the app's folder:
 * `node_modules/.bin/migration-pipeline`, whose shebang finds `node` on PATH.
 */
export async function runInstalledCli(
  app: string,
  node: string,
  args: string[],
  { variables = {}, viaNpx = false }: { variables?: Record<string, string>; viaNpx?: boolean } = {},
): Promise<CliRun> {
  // --yes=false: never install a registry package of that name when the app lacks the bin.
  const [command, commandArgs] = viaNpx
    ? ['npx', ['--yes=false', 'migration-pipeline', ...args]]
    : [join(app, 'node_modules', '.bin', 'migration-pipeline'), args];
  try {
    const { stdout, stderr } = await run(command, commandArgs, {
      cwd: app,
      env: appEnvironment(node, variables),
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout = '', stderr = '' } = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, stdout, stderr };
  }
}
