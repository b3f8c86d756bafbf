import type { CliIo } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';

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
