import { execFileSync } from 'node:child_process';
import { freePort, spawnTiedToThisProcess, terminate } from './registry.ts';

/** moto's standalone server: AWS APIs (ECR among them) on loopback, for clients given its endpoint. */

export const ENABLE_MOTO_TESTS = "pip install 'moto[server]'";

export function motoAvailable(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`SKIPPED: moto_server is not on PATH. Enable these tests with: ${ENABLE_MOTO_TESTS}`);
    return false;
  }
}

export interface MotoServer {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMotoServer(): Promise<MotoServer> {
  const port = await freePort();
  const child = spawnTiedToThisProcess('moto_server', ['-H', '127.0.0.1', '-p', String(port)]);
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => terminate(child);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode})`);
    if (
      await fetch(`${endpoint}/moto-api/`).then(
        (response) => response.ok,
        () => false,
      )
    )
      return { endpoint, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`moto_server did not answer on ${endpoint} within 20 s`);
}
