import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  FORMAT_DESCRIPTIONS,
  type MigrationFormat,
  readMigrationsFolder,
} from '../../functions/lib/migrations/formats/detect.ts';
import { UsageError } from '../io.ts';

/** Where the tools the engine reads keep their migrations, most usual first. */
const USUAL_MIGRATION_FOLDERS = [
  'migrations',
  'db/migrations',
  'prisma/migrations',
  'drizzle',
  'src/main/resources/db/migration',
  'db/migration',
  'database/migrations',
  'sql/migrations',
] as const;

/** An Alembic project: its migrations are Python modules, which the engine does not read. */
export interface AlembicProject {
  /** What told it apart: `alembic.ini`, or a folder holding `versions/`. */
  evidence: string;
  /** Alembic's script folder (holding `versions/`), when it can be told. */
  folder?: string;
}

/** The migrations folder init settles on, relative to the repository root. */
export interface MigrationsFolderPlan {
  dir: string;
  /** `given`: --dir; `found`: an existing folder; `new`: none exists, init creates it. */
  origin: 'given' | 'found' | 'new';
  format: MigrationFormat;
  description: string;
  count: number;
  alembic?: AlembicProject;
}

/**
 * `--dir` when given, else the one usual folder holding migrations the engine reads (two is a usage
 * error: which one is meant cannot be guessed), else an existing empty `migrations/`, else a new
 * one. Alembic's folder is never taken: its Python migrations are not read.
 */
export async function planMigrationsFolder(root: string, given?: string): Promise<MigrationsFolderPlan> {
  const alembic = await findAlembic(root);
  const withAlembic = alembic ? { alembic } : {};
  if (given !== undefined) {
    const dir = insideRoot(root, given);
    if (alembic?.folder === dir) {
      throw new UsageError(
        `--dir ${given} is Alembic's folder, whose migrations are Python and are not read. Name another folder for the migrations migration-pipeline runs, e.g. --dir db/migrations.`,
      );
    }
    return { ...(await describeFolder(root, dir, 'given')), ...withAlembic };
  }
  const candidates = USUAL_MIGRATION_FOLDERS.filter((dir) => dir !== alembic?.folder);
  const existing: MigrationsFolderPlan[] = [];
  for (const dir of candidates) {
    if (await isFolder(join(root, dir))) existing.push(await describeFolder(root, dir, 'found'));
  }
  const holding = existing.filter((folder) => folder.count > 0);
  if (holding.length > 1) {
    throw new UsageError(
      `Migrations are in more than one folder: ${holding.map((folder) => `${folder.dir} (${folder.count})`).join(', ')}. Say which one releases carry with --dir.`,
    );
  }
  const chosen = holding[0] ?? existing.find((folder) => folder.dir === 'migrations');
  if (chosen) return { ...chosen, ...withAlembic };
  // Flask-Migrate keeps Alembic in migrations/: the new folder goes beside it.
  const dir = alembic?.folder === 'migrations' ? 'db/migrations' : 'migrations';
  return {
    dir,
    origin: 'new',
    format: 'ley',
    description: FORMAT_DESCRIPTIONS.ley,
    count: 0,
    ...withAlembic,
  };
}

/** A path the Dockerfile can COPY: inside the repository, `/`-separated. */
function insideRoot(root: string, given: string): string {
  const path = relative(root, resolve(root, given));
  if (path === '' || path.startsWith('..') || isAbsolute(path)) {
    throw new UsageError(
      `--dir ${given} is not a folder inside the repository (${root}): the Dockerfile can only copy what is inside it. Give a path relative to --root.`,
    );
  }
  return path.split(sep).join('/');
}

async function describeFolder(
  root: string,
  dir: string,
  origin: 'given' | 'found',
): Promise<MigrationsFolderPlan> {
  const path = join(root, dir);
  const info = await stat(path).catch(() => undefined);
  if (info && !info.isDirectory()) {
    throw new UsageError(`${dir} is a file, not a folder: give the migrations folder with --dir.`);
  }
  if (!info) return { dir, origin: 'new', format: 'ley', description: FORMAT_DESCRIPTIONS.ley, count: 0 };
  // A folder the engine cannot read (mixed layouts, a stray file) fails here, named, before anything is written.
  const { format, files } = await readMigrationsFolder(path);
  return { dir, origin, format, description: FORMAT_DESCRIPTIONS[format], count: files.length };
}

async function findAlembic(root: string): Promise<AlembicProject | undefined> {
  const ini = await readFile(join(root, 'alembic.ini'), 'utf8').catch(() => undefined);
  if (ini !== undefined) {
    // script_location = alembic, or %(here)s/alembic; a package resource (pkg:folder) names no folder here.
    const location = /^\s*script_location\s*=\s*(\S+)\s*$/m.exec(ini)?.[1]?.replace(/^%\(here\)s\//, '');
    return { evidence: 'alembic.ini', ...(location && !location.includes(':') ? { folder: location } : {}) };
  }
  if (await isFolder(join(root, 'alembic', 'versions'))) {
    return { evidence: 'alembic/versions', folder: 'alembic' };
  }
  if (
    (await isFolder(join(root, 'migrations', 'versions'))) &&
    (await isFile(join(root, 'migrations', 'env.py')))
  ) {
    return { evidence: 'migrations/env.py and migrations/versions', folder: 'migrations' };
  }
  return undefined;
}

const isFolder = async (path: string) => (await stat(path).catch(() => undefined))?.isDirectory() === true;
const isFile = async (path: string) => (await stat(path).catch(() => undefined))?.isFile() === true;
