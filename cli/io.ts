/** Where a command writes and what it reads from its surroundings; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Whether stdout is a terminal (spinner line) or a log (plain lines). */
  tty: boolean;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  tty: process.stdout.isTTY === true,
};

/** Bad usage: the command line itself is wrong. Exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const ExitCode = { ok: 0, failed: 1, usage: 2, timedOut: 3 } as const;
