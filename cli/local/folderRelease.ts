import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BundleStore } from '../../functions/lib/bundle/store.ts';
import { parseResolveEvent } from '../../functions/lib/contract/events.ts';
import { MigrationsNotFound } from '../../functions/lib/errors.ts';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import { noMetrics } from '../../functions/lib/pipeline/metrics.ts';
import { type ImageMigrationsRead, resolveRelease } from '../../functions/lib/pipeline/resolveRelease.ts';
import { silentLog } from '../../functions/lib/runtime.ts';
import type { LambdaHandler } from './stateMachine.ts';

/** A folder's migrations, read as an image's would be: regular files, in order, byte for byte. */
export async function readMigrationsFolder(dir: string): Promise<ImageMigrationsRead> {
  const absolute = resolve(dir);
  const files = await listMigrationFiles(absolute);
  if (files.length === 0) {
    throw new MigrationsNotFound(`${absolute} holds no migrations. Pass the folder that does with --dir.`, {
      image: 'a local folder',
      path: absolute,
    });
  }
  return {
    migrationsPath: absolute,
    files: await Promise.all(
      files.map(async (file) => ({ name: file.name, content: await readFile(file.path) })),
    ),
  };
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
