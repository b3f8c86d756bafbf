import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { MigrationInvalid, PipelineError } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import type { EngineSettings } from './settings.ts';
import { parseSqlMigration } from './sqlFile.ts';
import { lineAt } from './sqlStatements.ts';
import type { MigrationModule } from './types.ts';

/**
 * Loads every migration of a plan before the first one runs, so that a broken file stops the run
 * with nothing applied (`MigrationInvalid`, naming the file and line) rather than halfway through.
 */
export async function loadPlan(
  files: readonly MigrationFile[],
  { importTimeoutMs }: Pick<EngineSettings, 'importTimeoutMs'>,
): Promise<Map<string, MigrationModule>> {
  const modules = new Map<string, MigrationModule>();
  // One at a time: imports run the modules' top-level code, and the first broken file is the one named.
  for (const file of files) modules.set(file.name, await loadMigration(file, importTimeoutMs));
  return modules;
}

/**
 * Loads a migration: a `.sql` file is parsed into its sections; a module is imported (ESM or
 * CommonJS, `.ts` through Node's type stripping), exactly as ley loads it. Every way it can fail is
 * `MigrationInvalid` naming the file, and the line where one is known.
 */
async function loadMigration(file: MigrationFile, importTimeoutMs: number): Promise<MigrationModule> {
  if (file.name.endsWith('.sql')) return parseSqlMigration(file.name, await readFile(file.path, 'utf8'));
  let imported: Record<string, unknown>;
  try {
    imported = await importWithin(file, importTimeoutMs);
  } catch (error) {
    if (error instanceof PipelineError) throw error;
    throw await describeImportFailure(file, error);
  }
  // ley's interop: a CommonJS module arrives as `default`.
  const exports = (
    typeof imported.up === 'function' || typeof imported.down === 'function'
      ? imported
      : (imported.default ?? imported)
  ) as Record<string, unknown>;
  if (typeof exports.up !== 'function') {
    throw invalid(
      file,
      undefined,
      'it does not export an up(sql) function. Export `async function up(sql) {…}`.',
    );
  }
  if (exports.down !== undefined && typeof exports.down !== 'function') {
    throw invalid(file, undefined, 'its `down` export is not a function.');
  }
  if (exports.transaction !== undefined && typeof exports.transaction !== 'boolean') {
    throw invalid(file, undefined, '`transaction` must be exported as true or false.');
  }
  return {
    up: exports.up as MigrationModule['up'],
    down: typeof exports.down === 'function' ? (exports.down as MigrationModule['down']) : undefined,
    transaction: exports.transaction !== false,
  };
}

async function importWithin(file: MigrationFile, timeoutMs: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          invalid(
            file,
            undefined,
            `importing it did not finish within ${timeoutMs / 1000} s (a top-level await that never settles?). ` +
              'Move slow work into up().',
          ),
        ),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    return (await Promise.race([import(pathToFileURL(file.path).href), stuck])) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}

/** Turns what Node threw at import into a message that names the file, the line and the fix. */
async function describeImportFailure(file: MigrationFile, error: unknown): Promise<MigrationInvalid> {
  const { code, message = String(error) } = (error ?? {}) as { code?: string; message?: string };
  const source = await readFile(file.path, 'utf8').catch(() => '');
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return invalid(
      file,
      lineFromStack(file, error),
      `${message}. Migrations run through Node's type stripping: use a union of string literals or an object instead of an enum, and no namespaces or parameter properties.`,
    );
  }
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
    const specifier = /(?:package|module) '([^']+)'/.exec(message)?.[1];
    const at = specifier ? source.indexOf(specifier) : -1;
    return invalid(
      file,
      at >= 0 ? lineAt(source, at) : undefined,
      `${message.split('\n')[0]}. Migrations ship without node_modules: import only node: built-ins and files next to the migration, and use the sql handle they receive.`,
    );
  }
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return invalid(file, undefined, `${message}. Run migrations on Node 22.18 or later (type stripping).`);
  }
  const line =
    lineFromStack(file, error) ?? (error instanceof SyntaxError ? await syntaxErrorLine(file) : undefined);
  const what =
    error instanceof SyntaxError || code === 'ERR_INVALID_TYPESCRIPT_SYNTAX'
      ? 'it does not parse'
      : 'importing it threw';
  return invalid(file, line, `${what}: ${(error as Error)?.name ?? 'Error'}: ${message.split('\n')[0]}`);
}

/** The line of `file` in the first stack frame (or the source excerpt Node puts first) that names it. */
function lineFromStack(file: MigrationFile, error: unknown): number | undefined {
  const stack = String((error as { stack?: unknown })?.stack ?? '');
  const url = pathToFileURL(file.path).href;
  for (const place of [url, file.path]) {
    const escaped = place.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const match = new RegExp(`${escaped}:(\\d+)`).exec(stack);
    if (match) return Number(match[1]);
  }
  return undefined;
}

/**
 * V8 keeps the position of a syntax error in an ES module out of the error object; `node --check`
 * prints it. Only runs on a file that already failed to parse.
 */
function syntaxErrorLine(file: MigrationFile): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--check', file.path], { timeout: 5_000 }, (_error, _stdout, stderr) => {
      const escaped = file.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const match = new RegExp(`${escaped}:(\\d+)`).exec(String(stderr));
      resolve(match ? Number(match[1]) : undefined);
    });
  });
}

function invalid(file: MigrationFile, line: number | undefined, problem: string): MigrationInvalid {
  return new MigrationInvalid(`${file.name}${line ? `:${line}` : ''}: ${problem}`, {
    migration: file.name,
    ...(line ? { line } : {}),
    problem,
  });
}
