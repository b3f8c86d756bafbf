import { posix } from 'node:path';
import {
  type FolderEntry,
  folderChain,
  type LayerIndex,
  MAX_MIGRATION_FILES,
  type PathKind,
} from './layerIndex.ts';
import { invalid } from './manifest.ts';

/** How many symbolic links in a row are followed inside the folder before giving up (a loop). */
const MAX_LINK_HOPS = 16;

export interface FolderFile {
  name: string;
  content: Buffer;
}

/**
 * Stacks the layers' indexes bottom to top as a container runtime extracts them (OCI image spec,
 * "Applying Changesets"): whiteouts and opaque markers remove lower content, then the layer's own
 * entries land, replacing same-named ones. What is left directly in the folder: its regular files,
 * symbolic links to those followed, subfolders and devices ignored; any other link is refused.
 * No files at all is an empty array: the caller decides what that means.
 */
export function applyLayers(layers: readonly LayerIndex[], folder: string, image: string): FolderFile[] {
  const chain = folderChain(folder);
  const kinds = new Map<string, PathKind>();
  const entries = new Map<string, FolderEntry>();
  for (const layer of layers) {
    if (layer.hidesLower) entries.clear();
    for (const removed of layer.removedPaths) {
      for (const path of chain) if (path === removed || path.startsWith(`${removed}/`)) kinds.delete(path);
    }
    for (const name of layer.deleted) entries.delete(name);
    for (const path of chain) {
      const kind = layer.pathKinds[path];
      if (kind === 'implied') {
        if (!kinds.has(path)) kinds.set(path, 'directory');
      } else if (kind) {
        kinds.set(path, kind);
        if (kind !== 'directory')
          for (const below of chain) if (below.startsWith(`${path}/`)) kinds.delete(below);
      }
    }
    for (const [name, entry] of layer.entries) {
      entries.set(
        name,
        entry.type === 'hardlink' ? linkedFile(entries, entry.target, folder, name, image) : entry,
      );
    }
  }
  for (const path of chain) {
    const kind = kinds.get(path);
    if (kind === 'symlink') {
      throw invalid(
        image,
        `${path} is a symbolic link`,
        `${path} is a symbolic link, so the migrations are not where the image says. Name the real folder (label io.migration-pipeline.migrations or the migrations path setting).`,
      );
    }
    if (kind !== 'directory') return [];
  }
  const files: FolderFile[] = [];
  for (const name of [...entries.keys()].sort()) {
    const content = fileContent(entries, name, folder, image);
    if (content !== undefined) files.push({ name, content: Buffer.from(content, 'base64') });
  }
  if (files.length > MAX_MIGRATION_FILES) {
    throw invalid(
      image,
      `more than ${MAX_MIGRATION_FILES} files in ${folder}`,
      `${folder} holds more than ${MAX_MIGRATION_FILES} files. Squash old migrations into a baseline.`,
    );
  }
  return files;
}

/** A hard link to a file of the folder archived before it, in its layer or a lower one (links elsewhere: see indexLayer). */
function linkedFile(
  entries: Map<string, FolderEntry>,
  target: string,
  folder: string,
  name: string,
  image: string,
): FolderEntry {
  const linked = posix.dirname(target) === folder ? entries.get(posix.basename(target)) : undefined;
  if (linked?.type === 'file') return linked;
  throw invalid(
    image,
    `hard link ${folder}/${name}`,
    `${folder}/${name} is a hard link to ${target}, which is not a file of the folder. Copy the file into the folder instead.`,
  );
}

/** The base64 content of a regular file or of a link to one in the folder; undefined for what is not a file. */
function fileContent(
  entries: Map<string, FolderEntry>,
  name: string,
  folder: string,
  image: string,
): string | undefined {
  let entry = entries.get(name);
  for (let hops = 0; entry?.type === 'symlink' && hops < MAX_LINK_HOPS; hops++) {
    const target = posix.resolve(folder, entry.target);
    const next = posix.dirname(target) === folder ? entries.get(posix.basename(target)) : undefined;
    if (!next || next.type === 'directory' || next.type === 'other') {
      throw invalid(
        image,
        `symbolic link ${folder}/${name}`,
        `${folder}/${name} is a symbolic link to ${entry.target}, not to a file of the same folder, so it would not travel with the release. Copy the file into the folder instead.`,
      );
    }
    entry = next;
  }
  if (entry?.type === 'symlink') {
    throw invalid(
      image,
      `symbolic link loop ${folder}/${name}`,
      `${folder}/${name} is a loop of symbolic links. Replace it with the file.`,
    );
  }
  return entry?.type === 'file' ? entry.content : undefined;
}
