import { posix } from 'node:path';
import {
  DEFAULT_MIGRATIONS_PATH,
  MIGRATIONS_PATH_LABEL,
} from '../../functions/lib/registry/readImageMigrations.ts';

/** Where a release looks for the migrations in the image when no label names another path. */

/** What the Dockerfile's final stage does with the migrations. */
export type DockerfileVerdict =
  /** The image has them where releases look: at the default path, or where the label says. */
  | { carries: true; imagePath: string; evidence: string }
  /** These lines, appended, make it carry them. */
  | { carries: false; lines: string[] };

interface Instruction {
  keyword: string;
  args: string;
  text: string;
}

/**
 * Reads what the final stage (what is pushed) does with the migrations folder `dir`: a label
 * naming their path, a COPY of the folder, of a folder holding it, or of the whole context. Where
 * they land is /app/migrations, or a path a label must then name; nothing copying them needs a COPY.
 */
export function readDockerfile(text: string, dir: string): DockerfileVerdict {
  const stage = finalStage(instructions(text));
  let workdir = '/';
  let copied: { imagePath: string; evidence: string } | undefined;
  for (const instruction of stage) {
    if (instruction.keyword === 'WORKDIR') workdir = posix.resolve(workdir, unquote(instruction.args.trim()));
    if (instruction.keyword === 'LABEL') {
      const path = labelValue(instruction.args, MIGRATIONS_PATH_LABEL);
      if (path) return { carries: true, imagePath: path, evidence: instruction.text };
    }
    if (instruction.keyword === 'COPY' || instruction.keyword === 'ADD') {
      const landing = whereMigrationsLand(instruction.args, dir, workdir);
      if (landing) copied = { imagePath: landing, evidence: instruction.text };
    }
  }
  if (copied?.imagePath === DEFAULT_MIGRATIONS_PATH) return { carries: true, ...copied };
  if (copied)
    return { carries: false, lines: [LINES_COMMENT, `LABEL ${MIGRATIONS_PATH_LABEL}=${copied.imagePath}`] };
  return { carries: false, lines: copyLines(dir) };
}

const LINES_COMMENT = '# Releases read the migrations from the image (migration-pipeline).';

/** The lines that copy the folder to where releases look: for a Dockerfile that does nothing with it yet. */
export function copyLines(dir: string): string[] {
  // The JSON form keeps a path with spaces in one piece.
  const copy = /\s/.test(dir)
    ? `COPY ${JSON.stringify([`${dir}/`, `${DEFAULT_MIGRATIONS_PATH}/`])}`
    : `COPY ${dir}/ ${DEFAULT_MIGRATIONS_PATH}/`;
  return [LINES_COMMENT, copy];
}

/** The file's instructions: comments dropped, continuation lines joined. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split(/\r?\n/)
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\[ \t]*\n/g, ' ');
  return joined.split('\n').flatMap((line) => {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    return match
      ? [{ keyword: (match[1] as string).toUpperCase(), args: match[2] as string, text: line.trim() }]
      : [];
  });
}

function finalStage(all: Instruction[]): Instruction[] {
  const lastFrom = all.findLastIndex((instruction) => instruction.keyword === 'FROM');
  return all.slice(lastFrom + 1);
}

/** Where this COPY puts the folder's files in the image, if it copies them. */
function whereMigrationsLand(args: string, dir: string, workdir: string): string | undefined {
  const words = copyArguments(args);
  const fromStage = words.some((word) => word.startsWith('--from='));
  const paths = words.filter((word) => !word.startsWith('--'));
  const destination = paths.pop();
  if (destination === undefined || paths.length === 0) return undefined;
  const target = posix.resolve(workdir, destination);
  // From another stage the sources are that stage's paths: only the destination tells.
  if (fromStage) return target === DEFAULT_MIGRATIONS_PATH ? target : undefined;
  for (const source of paths.map(contextPath)) {
    // A folder's contents land in the destination (COPY db/migrations /app/migrations).
    if (source === dir) return target;
    if (source === '') return posix.join(target, dir);
    if (dir.startsWith(`${source}/`)) return posix.join(target, dir.slice(source.length + 1));
  }
  return undefined;
}

/** COPY's words, in the shell form or the JSON-array form. */
function copyArguments(args: string): string[] {
  const trimmed = args.trim();
  const flags = /^((?:--\S+\s+)*)/.exec(trimmed)?.[1] ?? '';
  const rest = trimmed.slice(flags.length);
  const flagWords = flags.split(/\s+/).filter(Boolean);
  if (rest.startsWith('[')) {
    try {
      return [...flagWords, ...(JSON.parse(rest) as string[])];
    } catch {
      return flagWords;
    }
  }
  return [...flagWords, ...rest.split(/\s+/).filter(Boolean).map(unquote)];
}

/** A path in the build context, as a folder name: `./db/migrations/` is `db/migrations`, `.` is ``. */
function contextPath(source: string): string {
  const normalized = posix.normalize(source).replace(/\/+$/, '');
  return normalized === '.' ? '' : normalized.replace(/^\.\//, '');
}

function labelValue(args: string, key: string): string | undefined {
  for (const match of args.matchAll(/("[^"]*"|[^\s=]+)=("[^"]*"|'[^']*'|\S+)/g)) {
    if (unquote(match[1] as string) === key) return unquote(match[2] as string);
  }
  return undefined;
}

const unquote = (text: string) => text.replace(/^(["'])(.*)\1$/, '$2');
