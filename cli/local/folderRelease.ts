import { readdir, readFile, realpath } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { BundleStore } from '../../functions/lib/bundle/store.ts';
import { parseResolveEvent } from '../../functions/lib/contract/events.ts';
import { MigrationsNotFound } from '../../functions/lib/errors.ts';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import {
  type MigrationsFolder,
  readablePath,
  refusal,
} from '../../functions/lib/migrations/formats/folder.ts';
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
export async function readFolderAsImage(dir: string): Promise<ImageMigrationsRead> {
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

/**
 * Walks the folder to MAX_SOURCE_DEPTH as the image reader stacks an image's layers: regular files
 * the rule selects, symbolic links to such files followed, devices and deeper levels ignored. A link
 * leading out of the folder, to a folder, or to nothing is refused, as in an image.
 */
async function collectSources(
  folder: MigrationsFolder,
  subfolder: string,
  files: FolderFile[],
): Promise<void> {
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

/** The path to read for a file of the folder: itself, or where its link leads if that is a file the release carries. */
async function carriedPath(folder: MigrationsFolder, name: string): Promise<string> {
  const path = await readablePath(folder, name);
  // The image reader keeps only the files a release carries, so a link to any other file fails there: here too.
  if (!isMigrationSourcePath(relative(folder.realDir, path).split(sep).join('/'))) {
    throw refusal(
      name,
      `it is a symbolic link to ${path}, not to a file of the folder that a release carries. Copy the file into its place.`,
    );
  }
  return path;
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
      readMigrations: () => readFolderAsImage(dir),
    });
}
