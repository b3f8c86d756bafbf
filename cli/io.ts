import { createInterface } from 'node:readline/promises';

/** Where a command writes and what it reads from its surroundings; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Whether stdout is a terminal (spinner line) or a log (plain lines). */
  tty: boolean;
  /** Asks the person at the terminal a yes/no question; absent where no one can answer (CI, a pipe). */
  confirm?: (question: string) => Promise<boolean>;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  tty: process.stdout.isTTY === true,
  ...(process.stdin.isTTY ? { confirm: askAtTerminal } : {}),
};

/** Yes only for an explicit "y" or "yes": Enter alone keeps the default, no. */
async function askAtTerminal(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await terminal.question(`${question} [y/N] `)).trim());
  } finally {
    terminal.close();
  }
}

/** Bad usage: the command line itself is wrong. Exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const ExitCode = { ok: 0, failed: 1, usage: 2, timedOut: 3 } as const;
