import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigrationInvalid } from '../errors.ts';
import type { MigrationFile } from './files.ts';
import { lineAt } from './sqlStatements.ts';

/**
 * Where an import failed: a line of the migration itself, or a file it imports (a helper in a
 * subfolder), named relative to the migrations folder with its line.
 */
interface Place {
  line?: number;
  helper?: string;
}

/** Turns what Node threw at import into a message that names the file, the line and the fix. */
export async function describeImportFailure(file: MigrationFile, error: unknown): Promise<MigrationInvalid> {
  const { code, message = String(error) } = (error ?? {}) as { code?: string; message?: string };
  const firstLine = message.split('\n')[0];
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return invalid(
      file,
      placeInStack(file, error),
      `${message}. Migrations run through Node's type stripping: use a union of string literals or an object instead of an enum, and no namespaces or parameter properties.`,
    );
  }
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
    return invalid(
      file,
      await importingPlace(file, message),
      `${firstLine}. Migrations ship without node_modules: import only node: built-ins and files of the migrations folder, and use the sql handle they receive.`,
    );
  }
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return invalid(file, {}, `${message}. Run migrations on Node 22.18 or later (type stripping).`);
  }
  const place = placeInStack(file, error);
  const what =
    error instanceof SyntaxError || code === 'ERR_INVALID_TYPESCRIPT_SYNTAX'
      ? 'it does not parse'
      : 'importing it threw';
  return invalid(
    file,
    place.line || place.helper || !(error instanceof SyntaxError) ? place : await syntaxErrorPlace(file),
    `${what}: ${(error as Error)?.name ?? 'Error'}: ${firstLine}`,
  );
}

export function invalid(file: MigrationFile, { line, helper }: Place, problem: string): MigrationInvalid {
  const text = helper ? `in ${helper}: ${problem}` : problem;
  return new MigrationInvalid(`${file.name}${line ? `:${line}` : ''}: ${text}`, {
    migration: file.name,
    ...(line ? { line } : {}),
    problem: text,
  });
}

/**
 * The first place in the stack (or in the source excerpt Node puts first) inside the migrations
 * folder: where the migration or a helper of it threw. Frames in node_modules or Node are skipped.
 */
function placeInStack(file: MigrationFile, error: unknown): Place {
  const stack = String((error as { stack?: unknown })?.stack ?? '');
  for (const [, location = '', line] of stack.matchAll(/((?:file:\/\/)?\/[^\s():]+):(\d+)/g)) {
    const path = location.startsWith('file:') ? fileURLToPath(location) : location;
    const place = placeOf(file, path, Number(line));
    if (place) return place;
  }
  return {};
}

function placeOf(file: MigrationFile, path: string, line: number | undefined): Place | undefined {
  if (path === file.path) return { line };
  const inFolder = relative(dirname(file.path), path);
  if (inFolder.startsWith('..') || inFolder.split(sep).includes('node_modules')) return undefined;
  return { helper: line ? `${inFolder}:${line}` : inFolder };
}

/** "Cannot find package 'x' imported from /path/lib/helper.ts": the line of the file that imports it. */
async function importingPlace(file: MigrationFile, message: string): Promise<Place> {
  const specifier = /(?:package|module) '([^']+)'/.exec(message)?.[1];
  const importer = / imported from (\S+)/.exec(message)?.[1];
  const path = importer?.startsWith('file:') ? fileURLToPath(importer) : (importer ?? file.path);
  const source = await readFile(path, 'utf8').catch(() => '');
  const at = specifier ? source.indexOf(specifier) : -1;
  return placeOf(file, path, at >= 0 ? lineAt(source, at) : undefined) ?? {};
}

/**
 * V8 keeps the position of a syntax error in an ES module out of the error object; `node --check`
 * prints it. Checks the migration, then the files it imports by relative path, recursively. Only
 * runs on a module that already failed to parse.
 */
async function syntaxErrorPlace(file: MigrationFile): Promise<Place> {
  const queue = [file.path];
  const seen = new Set(queue);
  for (let path = queue.shift(); path !== undefined && seen.size <= 50; path = queue.shift()) {
    const line = await syntaxErrorLine(path);
    if (line !== undefined) return placeOf(file, path, line) ?? {};
    const source = await readFile(path, 'utf8').catch(() => '');
    for (const [, specifier = ''] of source.matchAll(/(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)) {
      const imported = resolve(dirname(path), specifier);
      if (!seen.has(imported)) {
        seen.add(imported);
        queue.push(imported);
      }
    }
  }
  return {};
}

function syntaxErrorLine(path: string): Promise<number | undefined> {
  // Loaded only to describe a broken module: the engine's runs never need a child process.
  const { execFile } = process.getBuiltinModule('node:child_process');
  return new Promise((done) => {
    execFile(process.execPath, ['--check', path], { timeout: 5_000 }, (_error, _stdout, stderr) => {
      const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const match = new RegExp(`${escaped}:(\\d+)`).exec(String(stderr));
      done(match ? Number(match[1]) : undefined);
    });
  });
}
