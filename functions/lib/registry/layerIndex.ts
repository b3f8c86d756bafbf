import { posix } from 'node:path';
import * as z from 'zod/mini';
import { MAX_MIGRATION_BYTES } from '../migrations/files.ts';
import { isMigrationSourcePath, MAX_SOURCE_DEPTH } from '../migrations/formats/sources.ts';
import type { RegistryClient } from './distribution.ts';
import { readLayerTar } from './layerBlob.ts';
import { type Descriptor, invalid } from './manifest.ts';
import { readTar, type TarEntry } from './tar.ts';

/** Far more than any project's history: with the engine's per-file limit, it bounds the memory a read takes. */
export const MAX_MIGRATION_FILES = 10_000;

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export type PathKind = 'directory' | 'file' | 'symlink' | 'other';

/** What a layer puts at a path in the migrations folder. Content is base64 so that the index is JSON. */
export type FolderEntry =
  | { type: 'file'; content: string }
  | { type: 'symlink'; target: string }
  | { type: 'hardlink'; target: string }
  | { type: 'directory' }
  | { type: 'other' };

/**
 * What one layer holds under the migrations folder, which is all of it that matters to the read:
 * immutable like the layer, so cached by (layer digest, folder). Empty for most base layers.
 * Paths in the folder are relative POSIX paths, only those a release carries (isMigrationSourcePath)
 * and the subfolders holding them: deeper or other files cost neither memory nor cache space.
 */
export interface LayerIndex {
  /** The layer hides every lower layer's content of the folder (a whiteout or opaque marker, or a replacement of it or an ancestor). */
  hidesLower: boolean;
  /** The folder or ancestors this layer whites out of lower layers (explicitly, or by an opaque parent). */
  removedPaths: string[];
  /** What the layer puts at the folder and its ancestors; `implied` when only entries below them. */
  pathKinds: Record<string, PathKind | 'implied'>;
  /** Paths in the folder whited out of lower layers, with everything beneath them. */
  deleted: string[];
  /** Subfolders whose lower content this layer hides (an opaque marker in them); they stay. */
  opaque: string[];
  /** What the layer puts in the folder, by path, in archive order (a hard link refers to what precedes it). */
  entries: [string, FolderEntry][];
}

const folderEntry = z.union([
  z.object({ type: z.literal('file'), content: z.string() }),
  z.object({ type: z.enum(['symlink', 'hardlink']), target: z.string() }),
  z.object({ type: z.enum(['directory', 'other']) }),
]);
/** A cached index naming a path no layer index holds is not one this code wrote: read the layer again. */
const sourcePath = z.string().check(z.refine(isMigrationSourcePath));
const layerIndexSchema = z.object({
  hidesLower: z.boolean(),
  removedPaths: z.array(z.string()),
  pathKinds: z.record(z.string(), z.enum(['directory', 'file', 'symlink', 'other', 'implied'])),
  deleted: z.array(sourcePath),
  opaque: z.array(sourcePath),
  entries: z.array(z.tuple([sourcePath, folderEntry])),
});

/** The cached index, or undefined when what the cache holds is not one (then the layer is read again). */
export function parseLayerIndex(json: string): LayerIndex | undefined {
  try {
    const result = layerIndexSchema.safeParse(JSON.parse(json));
    return result.success ? (result.data as LayerIndex) : undefined;
  } catch {
    return undefined;
  }
}

/** The folder's ancestors and itself, outermost first, without `/`: `/app`, `/app/migrations`. */
export function folderChain(folder: string): string[] {
  const parts = folder.split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/** The path relative to the folder of an absolute path in the image, when it is one the index keeps. */
export function carriedPath(path: string, folder: string): string | undefined {
  if (!path.startsWith(`${folder}/`)) return undefined;
  const relative = path.slice(folder.length + 1);
  return isMigrationSourcePath(relative) ? relative : undefined;
}

/**
 * Reads the layer once (twice when a hard link in the folder points at a file the index does not
 * keep: elsewhere in the layer, or in the folder but not carried) and indexes it.
 */
export async function indexLayer(
  client: RegistryClient,
  layer: Descriptor,
  folder: string,
): Promise<LayerIndex> {
  const index = await readLayerTar(client, layer, (tar) => indexEntries(tar, folder, client.image));
  const outside = (entry: FolderEntry) =>
    entry.type === 'hardlink' && carriedPath(entry.target, folder) === undefined;
  if (!index.entries.some(([, entry]) => outside(entry))) return index;
  const targets = new Set(
    index.entries.flatMap(([, entry]) => (entry.type === 'hardlink' ? [entry.target] : [])),
  );
  const contents = await readLayerTar(client, layer, (tar) => collectFiles(tar, targets, client.image));
  index.entries = index.entries.map(([name, entry]) => {
    if (entry.type !== 'hardlink' || !outside(entry)) return [name, entry];
    const content = contents.get(entry.target);
    if (content === undefined) {
      throw invalid(
        client.image,
        `hard link ${folder}/${name}`,
        `${folder}/${name} is a hard link to ${entry.target}, which its layer does not hold. Copy the file into the folder instead.`,
      );
    }
    return [name, { type: 'file', content }];
  });
  return index;
}

async function indexEntries(
  tar: AsyncIterable<Uint8Array>,
  folder: string,
  image: string,
): Promise<LayerIndex> {
  const chain = folderChain(folder);
  const index: LayerIndex = {
    hidesLower: false,
    removedPaths: [],
    pathKinds: {},
    deleted: [],
    opaque: [],
    entries: [],
  };
  const entries = new Map<string, FolderEntry>();
  let files = 0;
  const place = (path: string, entry: FolderEntry) => {
    const previous = entries.get(path);
    // A path archived twice: the later entry wins, as it overwrites the earlier one on extraction.
    entries.delete(path);
    entries.set(path, entry);
    files += (entry.type === 'directory' ? 0 : 1) - (previous && previous.type !== 'directory' ? 1 : 0);
    if (files > MAX_MIGRATION_FILES) {
      throw invalid(
        image,
        `more than ${MAX_MIGRATION_FILES} files in ${folder}`,
        `${folder} holds more than ${MAX_MIGRATION_FILES} files. Squash old migrations into a baseline.`,
      );
    }
  };
  const below = (path: string, ancestor: string) => ancestor === '/' || path.startsWith(`${ancestor}/`);
  const removeFromLower = (path: string) => {
    index.removedPaths.push(path);
    index.hidesLower = true;
  };
  for await (const entry of readTar(tar)) {
    const path = normalizeEntryPath(entry.name);
    const name = posix.basename(path);
    const parent = posix.dirname(path);
    for (const ancestor of chain) if (below(path, ancestor)) index.pathKinds[ancestor] ??= 'implied';
    const inFolder = below(path, folder) ? path.slice(folder.length + 1) : undefined;
    // Extracting anything makes the subfolders it lies in, replacing a lower file of the same name.
    if (inFolder !== undefined) {
      for (const subfolder of foldersHolding(inFolder)) {
        if (entries.get(subfolder)?.type !== 'directory') place(subfolder, { type: 'directory' });
      }
    }
    if (name === OPAQUE) {
      // An opaque directory hides its lower content: the folder's own files, a subfolder's,
      // or the branch leading to the folder.
      if (parent === folder) index.hidesLower = true;
      else if (below(folder, parent))
        removeFromLower(chain.find((path) => posix.dirname(path) === parent) as string);
      else {
        const subfolder = carriedPath(parent, folder);
        if (subfolder !== undefined && depthOf(subfolder) < MAX_SOURCE_DEPTH) index.opaque.push(subfolder);
      }
    } else if (name.startsWith(WHITEOUT)) {
      const target = posix.join(parent, name.slice(WHITEOUT.length));
      if (target === folder || below(folder, target)) removeFromLower(target);
      else {
        const deleted = carriedPath(target, folder);
        if (deleted !== undefined) index.deleted.push(deleted);
      }
    } else if (chain.includes(path)) {
      index.pathKinds[path] = kindOf(entry);
      if (entry.type !== 'directory') {
        // A file or link replacing the folder or an ancestor takes everything beneath with it.
        index.hidesLower = true;
        entries.clear();
        files = 0;
        for (const descendant of chain) if (below(descendant, path)) delete index.pathKinds[descendant];
      }
    } else if (inFolder !== undefined && isMigrationSourcePath(inFolder)) {
      place(inFolder, await folderEntryOf(entry, path, image));
    }
  }
  index.entries = [...entries];
  return index;
}

/** The subfolders of the folder that a path in it lies in, outermost first, as far as the index keeps them. */
function foldersHolding(relativePath: string): string[] {
  const parts = relativePath.split('/');
  const folders: string[] = [];
  for (let depth = 1; depth < parts.length && depth <= MAX_SOURCE_DEPTH; depth++) {
    const subfolder = parts.slice(0, depth).join('/');
    if (isMigrationSourcePath(subfolder)) folders.push(subfolder);
  }
  return folders;
}

function depthOf(relativePath: string): number {
  return relativePath.split('/').length;
}

async function folderEntryOf(entry: TarEntry, path: string, image: string): Promise<FolderEntry> {
  switch (entry.type) {
    case 'file':
      refuseOversized(entry, path, image);
      return { type: 'file', content: (await entry.content()).toString('base64') };
    case 'symlink':
      return { type: 'symlink', target: entry.linkName };
    case 'hardlink':
      return { type: 'hardlink', target: normalizeEntryPath(entry.linkName) };
    case 'directory':
      return { type: 'directory' };
    case 'other':
      return { type: 'other' };
    case 'unsupported':
      throw invalid(
        image,
        `unsupported tar entry ${path}`,
        `${path} is a kind of tar entry (GNU sparse or multi-volume) that images do not use. Rebuild the image.`,
      );
  }
}

async function collectFiles(tar: AsyncIterable<Uint8Array>, targets: Set<string>, image: string) {
  const contents = new Map<string, string>();
  for await (const entry of readTar(tar)) {
    const path = normalizeEntryPath(entry.name);
    if (entry.type !== 'file' || !targets.has(path)) continue;
    refuseOversized(entry, path, image);
    contents.set(path, (await entry.content()).toString('base64'));
  }
  return contents;
}

function refuseOversized(entry: TarEntry, path: string, image: string): void {
  if (entry.size <= MAX_MIGRATION_BYTES) return;
  throw invalid(
    image,
    `${path} larger than ${MAX_MIGRATION_BYTES} bytes`,
    `${path} is ${Math.round(entry.size / 1024 / 1024)} MiB, more than the ${MAX_MIGRATION_BYTES / 1024 / 1024} MiB a migration may be. Load bulk data with a batched migration reading from storage.`,
  );
}

function kindOf(entry: TarEntry): PathKind {
  if (entry.type === 'directory' || entry.type === 'symlink') return entry.type;
  return entry.type === 'file' || entry.type === 'hardlink' ? 'file' : 'other';
}

/** Archive names are relative to the root (`app/x`, `./app/x/`, rarely `/app/x`); `..` cannot climb above it. */
function normalizeEntryPath(name: string): string {
  return posix.join('/', name).replace(/(.)\/$/, '$1');
}
