import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real OCI registry on loopback for the tests: Debian's `docker-registry` (the CNCF distribution
 * registry), images pushed to it with `skopeo` from OCI layouts that test/support/imageLayout.ts writes.
 */

export const ENABLE_REGISTRY_TESTS = 'apt-get install docker-registry skopeo umoci';

const TOOLS = ['docker-registry', 'skopeo', 'tar'];

function onPath(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the registry tests can run here. Missing tools skip them loudly, with the command that
 * enables them; in CI (CI set) they must run, so a missing tool fails the run instead.
 */
export function registryToolsAvailable(): boolean {
  const missing = TOOLS.filter((tool) => !onPath(tool));
  if (missing.length === 0) return true;
  const message = `Registry tests need ${missing.join(', ')} on PATH. Enable them with: ${ENABLE_REGISTRY_TESTS}`;
  if (process.env.CI)
    throw new Error(`${message} (CI requires them, so this run fails instead of skipping).`);
  console.warn(`SKIPPED: ${message}`);
  return false;
}

export interface Registry {
  /** `127.0.0.1:<port>`: the registry part of image references. */
  host: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** Starts a registry storing in a fresh temporary folder; `stop` kills it and removes the folder. */
export async function startRegistry(): Promise<Registry> {
  const root = await mkdtemp(join(tmpdir(), 'migration-pipeline-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(root, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(root, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );
  const child = spawnTiedToThisProcess('docker-registry', ['serve', config]);
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const stop = async () => {
    await terminate(child);
    await rm(root, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(host, child, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host, stop };
}

async function waitUntilServing(host: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
    const ok = await fetch(`http://${host}/v2/`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`docker-registry did not answer on ${host} within 15 s: ${stderr()}`);
}

/**
 * Spawns a server that dies with this process, even when it is killed before its afterAll runs:
 * a shell runs it and kills it once its stdin (a pipe from this process) closes. The shell exits
 * with the server, so an early exit is still seen.
 */
export function spawnTiedToThisProcess(command: string, args: string[]): ChildProcess {
  // A background job's stdin is /dev/null unless redirected: fd 3 keeps the pipe for `cat`.
  const script =
    'exec 3<&0; "$@" </dev/null & server=$!; (cat <&3 >/dev/null; kill "$server" 2>/dev/null) & wait "$server"';
  return spawn('sh', ['-c', script, 'sh', command, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
}

/** Stops a server started by spawnTiedToThisProcess: closing its stdin makes its shell kill it. */
export async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  await exited;
}

/** The digest the registry serves for a tag (its Docker-Content-Digest), asked without our reader. */
export async function registryDigest(host: string, repository: string, tag: string): Promise<string> {
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  const digest = response.headers.get('docker-content-digest');
  if (!response.ok || !digest)
    throw new Error(`no manifest for ${repository}:${tag} (HTTP ${response.status})`);
  return digest;
}
