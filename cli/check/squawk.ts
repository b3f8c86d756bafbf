import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InvalidInput } from '../../functions/lib/errors.ts';

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
 * squawk's binary, from the platform package that squawk-cli itself installs (`@squawk-cli/<os>-<cpu>`).
 * The project depends on the linux-x64 one directly (CI and the registry it installs from); elsewhere
 * add `squawk-cli`, which brings the binary for that platform.
 */
function squawkBinary(): string {
  const name = `@squawk-cli/${process.platform}-${process.arch}/bin/squawk${process.platform === 'win32' ? '.exe' : ''}`;
  try {
    return createRequire(import.meta.url).resolve(name);
  } catch {
    throw new InvalidInput(
      `squawk's binary for ${process.platform}-${process.arch} is not installed (${name}). Run "npm install --save-dev squawk-cli", which brings it.`,
      { field: 'squawk' },
    );
  }
}

/**
 * Lints statements with squawk: they are written one per block,
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
    const output = await run(squawkBinary(), ['--reporter', 'json', `--pg-version=${pgVersion}`, file], {
      maxBuffer: 16 * 1024 * 1024,
    }).then(
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

/**
 * The names among `rules` that squawk does not know, asked of squawk itself (its --exclude refuses an
 * unknown rule by name), so that a misspelt rule in a configuration is an error, not a silent no-op.
 */
export async function unknownSquawkRules(rules: readonly string[]): Promise<string[]> {
  const unknown: string[] = [];
  let remaining = [...rules];
  while (remaining.length > 0) {
    const refused = await run(squawkBinary(), [
      `--exclude=${remaining.join(',')}`,
      '--reporter',
      'json',
      '/dev/null',
    ]).then(
      () => undefined,
      (error: { stderr?: string }) => /invalid rule name (\S+)/.exec(error.stderr ?? '')?.[1],
    );
    if (refused === undefined || !remaining.includes(refused)) break;
    unknown.push(refused);
    remaining = remaining.filter((rule) => rule !== refused);
  }
  return unknown;
}
