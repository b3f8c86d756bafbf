import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PipelineError } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import { describeImportFailure, invalid } from './importFailure.ts';
import { ImportWatchdog } from './importWatchdog.ts';
import { loadPlainSqlMigration } from './plainSql.ts';
import type { EngineSettings } from './settings.ts';
import { parseSqlMigration } from './sqlFile.ts';
import type { MigrationModule } from './types.ts';

/**
 * Loads every migration of a plan before the first one runs, so that a broken file stops the run
 * with nothing applied (`MigrationInvalid`, naming the file and line) rather than halfway through.
 */
export async function loadPlan(
  files: readonly MigrationFile[],
  { importTimeoutMs }: Pick<EngineSettings, 'importTimeoutMs'>,
): Promise<Map<string, MigrationModule>> {
  const moduleFiles = files.filter((file) => !isSqlFile(file));
  const watchdog = new ImportWatchdog(moduleFiles, importTimeoutMs);
  const modules = new Map<string, MigrationModule>();
  try {
    // One at a time: imports run the modules' top-level code, and the first broken file is the one named.
    for (const file of files) {
      if (!isSqlFile(file) && !(await watchdog.cleared(moduleFiles.indexOf(file)))) {
        throw importTimedOut(file, importTimeoutMs);
      }
      modules.set(file.name, await loadMigration(file, importTimeoutMs));
    }
  } finally {
    watchdog.stop();
  }
  return modules;
}

/** SQL is parsed, not imported: dbmate files and other tools' plain SQL. */
function isSqlFile(file: MigrationFile): boolean {
  return file.plainSql !== undefined || file.name.endsWith('.sql');
}

/**
 * Loads a migration: a `.sql` file is parsed into its sections; a module is imported (ESM or
 * CommonJS, `.ts` through Node's type stripping), exactly as ley loads it. Every way it can fail is
 * `MigrationInvalid` naming the file, and the line where one is known.
 */
async function loadMigration(file: MigrationFile, importTimeoutMs: number): Promise<MigrationModule> {
  if (file.plainSql) return loadPlainSqlMigration({ ...file, plainSql: file.plainSql });
  if (isSqlFile(file)) return parseSqlMigration(file.name, readFileSync(file.path, 'utf8'));
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
    throw invalid(file, {}, 'it does not export an up(sql) function. Export `async function up(sql) {…}`.');
  }
  if (exports.down !== undefined && typeof exports.down !== 'function') {
    throw invalid(file, {}, 'its `down` export is not a function.');
  }
  if (exports.transaction !== undefined && typeof exports.transaction !== 'boolean') {
    throw invalid(file, {}, '`transaction` must be exported as true or false.');
  }
  return {
    up: exports.up as MigrationModule['up'],
    down: typeof exports.down === 'function' ? (exports.down as MigrationModule['down']) : undefined,
    transaction: exports.transaction !== false,
  };
}

/** The worker's check passed, but a module may still behave otherwise here: its import stays bounded. */
async function importWithin(file: MigrationFile, timeoutMs: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(importTimedOut(file, timeoutMs)), timeoutMs);
    timer.unref();
  });
  try {
    return (await Promise.race([import(pathToFileURL(file.path).href), stuck])) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}

function importTimedOut(file: MigrationFile, timeoutMs: number) {
  return invalid(
    file,
    {},
    `importing it did not finish within ${timeoutMs / 1000} s (a loop, or a top-level await that never settles?). ` +
      'Move slow work into up().',
  );
}
