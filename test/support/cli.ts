import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CliIo } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';

const execute = promisify(execFile);
const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, as `migration-pipeline ...args` would, capturing its output. */
export async function runCli(
  args: string[],
  { env, cwd }: { env: Record<string, string | undefined>; cwd: string },
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env,
    cwd,
    tty: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/**
 * Runs the real CLI as its own process, as a person types `migration-pipeline ...args`: the test's
 * environment without its DATABASE_* settings, then `variables`.
 */
export async function runCliProcess(
  args: string[],
  { variables, cwd }: { variables: Record<string, string>; cwd: string },
): Promise<CliRun> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('DATABASE_')),
  );
  try {
    const { stdout, stderr } = await execute(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...env, ...variables },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout = '', stderr = '' } = error as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, stdout, stderr };
  }
}
