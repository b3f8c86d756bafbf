import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { InvalidInput } from '../../functions/lib/errors.ts';
import type { MigrationFile } from '../../functions/lib/migrations/files.ts';

const run = promisify(execFile);

/**
 * The first migration of the folder that a branch added since `base` (a git ref: the pull request's
 * base), by the files git says were added (committed or not) or are new and untracked. Undefined
 * when the branch added none. A migration whose file was added counts, whatever the local
 * database has applied: this is the pull-request flow.
 */
export async function firstAddedSince(
  base: string,
  migrationsDir: string,
  files: readonly MigrationFile[],
): Promise<string | undefined> {
  const git = async (...args: string[]) => {
    try {
      return (await run('git', ['-C', migrationsDir, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
    } catch (error) {
      const detail = ((error as { stderr?: string }).stderr ?? (error as Error).message)
        .trim()
        .split('\n')[0];
      throw new InvalidInput(
        `--base ${base}: git could not compare ${migrationsDir} with it (${detail}). ` +
          'Run check inside the repository, and fetch the base first (actions/checkout with fetch-depth: 0).',
        { field: 'base' },
      );
    }
  };
  if (base.startsWith('-'))
    throw new InvalidInput(`--base ${base}: name a git ref, not an option.`, { field: 'base' });
  const added = new Set(
    [
      ...(
        await git('diff', '--name-only', '--relative', '--no-renames', '--diff-filter=A', base, '--', '.')
      ).split('\n'),
      ...(await git('ls-files', '--others', '--exclude-standard', '--', '.')).split('\n'),
    ].filter(Boolean),
  );
  const realDir = await realpath(migrationsDir);
  return files.find((file) => added.has(relative(realDir, file.path).split(sep).join('/')))?.name;
}
