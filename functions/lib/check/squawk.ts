import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One of squawk's findings (its JSON reporter), placed on the statement it is about. */
export interface SquawkFinding {
  rule: string;
  message: string;
  help: string | undefined;
  /** Index into the statements given to `lintStatements`. */
  statement: number;
}

/**
 * Lints statements with squawk (the `squawk-cli` package's binary): they are written one per block,
 * in order, and each finding's line is mapped back to its statement.
 */
export async function lintStatements(statements: string[], pgVersion: string): Promise<SquawkFinding[]> {
  const dir = await mkdtemp(join(tmpdir(), 'squawk-'));
  try {
    const starts: number[] = [];
    let line = 0;
    const text = statements
      .map((statement) => {
        starts.push(line);
        const block = `${statement.replace(/;\s*$/, '')};\n`;
        line += block.split('\n').length - 1;
        return block;
      })
      .join('');
    const file = join(dir, 'migration.sql');
    await writeFile(file, text);
    const squawk = join(
      dirname(createRequire(import.meta.url).resolve('squawk-cli/package.json')),
      'js',
      'bin',
      'squawk',
    );
    const output = await run(
      process.execPath,
      [squawk, '--reporter', 'json', `--pg-version=${pgVersion}`, file],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    ).then(
      ({ stdout }) => stdout,
      // squawk exits non-zero when it found something; its report is still on stdout.
      (error: { stdout?: string; stderr?: string }) => {
        if (error.stdout?.trim().startsWith('[')) return error.stdout;
        throw new Error(`squawk failed: ${error.stderr ?? 'no output'}`);
      },
    );
    const findings = JSON.parse(output || '[]') as {
      line: number;
      rule_name: string;
      message: string;
      help?: string | null;
    }[];
    return findings.map((finding) => ({
      rule: finding.rule_name,
      message: finding.message,
      help: finding.help ?? undefined,
      statement: Math.max(
        0,
        starts.findLastIndex((start) => start <= finding.line),
      ),
    }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
