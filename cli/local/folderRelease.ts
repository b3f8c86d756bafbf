import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { BundleStore } from '../../functions/lib/bundle/store.ts';
import { parseResolveEvent } from '../../functions/lib/contract/events.ts';
import { MigrationInvalid, MigrationsNotFound } from '../../functions/lib/errors.ts';
import { listMigrationFiles, MAX_MIGRATION_BYTES } from '../../functions/lib/migrations/files.ts';
import { isMigrationSourcePath, MAX_SOURCE_DEPTH } from '../../functions/lib/migrations/formats/sources.ts';
import { noMetrics } from '../../functions/lib/pipeline/metrics.ts';
import { type ImageMigrationsRead, resolveRelease } from '../../functions/lib/pipeline/resolveRelease.ts';
import { silentLog } from '../../functions/lib/runtime.ts';
import type { LambdaHandler } from './stateMachine.ts';

type FolderFile = ImageMigrationsRead['files'][number];

/**
 * A folder's migrations, read as an image's would be: the files a release carries
 * (isMigrationSourcePath: the folder's files, migration sources one level down), byte for byte.
 * The engine lists the folder first, so that a folder it would refuse, or finds no migrations in,
 * fails here with the engine's own error.
 */
export async function readMigrationsFolder(dir: string): Promise<ImageMigrationsRead> {
  const absolute = resolve(dir);
  const migrations = await listMigrationFiles(absolute);
  if (migrations.length === 0) {
    throw new MigrationsNotFound(`${absolute} holds no migrations. Pass the folder that does with --dir.`, {
      image: 'a local folder',
      path: absolute,
    });
  }
  const files: FolderFile[] = [];
  await collectSources({ dir: absolute, realDir: await realpath(absolute) }, '', files);
  // Code-unit order, as the image reader lists and bundles sort.
  return {
    migrationsPath: absolute,
    files: files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

interface Folder {
  dir: string;
  /** The folder with its symbolic links resolved: where a link must lead to travel with the release. */
  realDir: string;
}

/**
 * Walks the folder to MAX_SOURCE_DEPTH as the image reader stacks an image's layers: regular files
 * the rule selects, symbolic links to such files followed, devices and deeper levels ignored. A link
 * leading out of the folder, to a folder, or to nothing is refused, as in an image.
 */
async function collectSources(folder: Folder, subfolder: string, files: FolderFile[]): Promise<void> {
  const entries = await readdir(join(folder.dir, subfolder), { withFileTypes: true }).catch(
    (error: NodeJS.ErrnoException) => {
      throw refusal(subfolder || folder.dir, `it cannot be read (${error.code}); fix its permissions.`);
    },
  );
  for (const entry of entries) {
    const name = subfolder === '' ? entry.name : `${subfolder}/${entry.name}`;
    if (entry.isDirectory()) {
      if (name.split('/').length < MAX_SOURCE_DEPTH) await collectSources(folder, name, files);
    } else if ((entry.isFile() || entry.isSymbolicLink()) && isMigrationSourcePath(name)) {
      const path = await carriedPath(folder, name);
      const content = await readFile(path).catch((error: NodeJS.ErrnoException) => {
        throw refusal(name, `it cannot be read (${error.code}); fix its permissions.`);
      });
      files.push({ name, content });
    }
  }
}

function refusal(name: string, problem: string): MigrationInvalid {
  return new MigrationInvalid(`${name}: ${problem}`, { migration: name, problem });
}

/** The path to read for a file of the folder: itself, or where its link leads if that is a file the release carries. */
async function carriedPath(folder: Folder, name: string): Promise<string> {
  const refuse = (problem: string) => refusal(name, problem);
  const target = await realpath(join(folder.dir, name)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ELOOP') {
      throw refuse(
        'it is a symbolic link in a loop (ELOOP). Point it at a file in the migrations folder or remove it.',
      );
    }
    if (error.code === 'ENOENT') {
      throw refuse(
        'it is a symbolic link to nothing. Point it at a file in the migrations folder or remove it.',
      );
    }
    throw refuse(`it cannot be read (${error.code}); fix its permissions.`);
  });
  const inFolder = target.startsWith(folder.realDir + sep)
    ? relative(folder.realDir, target).split(sep).join('/')
    : undefined;
  if (inFolder === undefined) {
    throw refuse(
      `it is a symbolic link to ${target}, outside the migrations folder, which a release would not carry. Copy the file into the folder.`,
    );
  }
  const info = await stat(target);
  if (info.isDirectory()) {
    throw refuse(
      `it is a symbolic link to the folder ${target}; a release carries files, not links to folders. Put the folder itself there instead of a link.`,
    );
  }
  // The image reader keeps only the files a release carries, so a link to any other file fails there: here too.
  if (!info.isFile() || !isMigrationSourcePath(inFolder)) {
    throw refuse(
      `it is a symbolic link to ${target}, not to a file of the folder that a release carries. Copy the file into its place.`,
    );
  }
  if (info.size > MAX_MIGRATION_BYTES) {
    throw refuse(
      `it is ${Math.ceil(info.size / 1024 / 1024)} MiB, more than the ${MAX_MIGRATION_BYTES / 1024 / 1024} MiB a migration may be. ` +
        'Load bulk data with a batched migration (inBatches) reading from storage, not inline.',
    );
  }
  return target;
}

/**
 * ResolveImage for a local run from a folder (`--dir`): the same step, packing the same bundle into
 * `store`, with the folder standing in for the image's migrations. The image stays as given.
 */
export function folderResolveHandler(
  dir: string,
  store: BundleStore,
  allowedRepository: string,
): LambdaHandler {
  return async (event) =>
    resolveRelease(parseResolveEvent(event), {
      allowedRepository,
      store,
      log: silentLog,
      metrics: noMetrics,
      readMigrations: () => readMigrationsFolder(dir),
    });
}
