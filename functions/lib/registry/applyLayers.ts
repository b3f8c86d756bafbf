import { posix } from 'node:path';
import {
  carriedPath,
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
  /** Relative to the folder, POSIX: `001.sql`, `20240101_init/migration.sql`. */
  name: string;
  content: Buffer;
}

/**
 * Stacks the layers' indexes bottom to top as a container runtime extracts them (OCI image spec,
 * "Applying Changesets"), at every level of the folder: whiteouts and opaque markers remove lower
 * content, then the layer's own entries land, a directory merging with a directory, anything else
 * replacing what was at its path and everything beneath. What is left: the files a release carries
 * (isMigrationSourcePath), by relative path, sorted; symbolic links to those are followed, folders
 * and devices ignored. Any other link is refused, and so is a link to a folder even inside the
 * folder: the index keeps a subfolder's files by the rule for that subfolder's own name, so the
 * files the rule would select under the link's name are not all known, and a release would miss
 * some of them without a word. No files at all is an empty array: the caller decides what that means.
 */
export function applyLayers(layers: readonly LayerIndex[], folder: string, image: string): FolderFile[] {
  const chain = folderChain(folder);
  const kinds = new Map<string, PathKind>();
  const tree = new Map<string, FolderEntry>();
  for (const layer of layers) {
    if (layer.hidesLower) tree.clear();
    for (const removed of layer.removedPaths) {
      for (const path of chain) if (path === removed || path.startsWith(`${removed}/`)) kinds.delete(path);
    }
    for (const path of layer.deleted) {
      tree.delete(path);
      removeBeneath(tree, path);
    }
    for (const subfolder of layer.opaque) removeBeneath(tree, subfolder);
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
    for (const [path, entry] of layer.entries) {
      place(
        tree,
        path,
        entry.type === 'hardlink' ? linkedFile(tree, entry.target, folder, path, image) : entry,
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
  // Code-unit order, as bundles sort: the same tree always lists the same way.
  for (const path of [...tree.keys()].sort()) {
    const content = fileContent(tree, path, folder, image);
    if (content !== undefined) files.push({ name: path, content: Buffer.from(content, 'base64') });
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

/** Extracts one entry: a directory onto a directory merges with it; anything else replaces the path and all beneath. */
function place(tree: Map<string, FolderEntry>, path: string, entry: FolderEntry): void {
  const previous = tree.get(path);
  if (previous?.type === 'directory') {
    if (entry.type === 'directory') return;
    removeBeneath(tree, path);
  }
  tree.set(path, entry);
}

function removeBeneath(tree: Map<string, FolderEntry>, path: string): void {
  const prefix = `${path}/`;
  for (const key of tree.keys()) if (key.startsWith(prefix)) tree.delete(key);
}

/** A hard link to a file of the folder archived before it, in its layer or a lower one (links elsewhere: see indexLayer). */
function linkedFile(
  tree: Map<string, FolderEntry>,
  target: string,
  folder: string,
  path: string,
  image: string,
): FolderEntry {
  const targetPath = carriedPath(target, folder);
  const linked = targetPath === undefined ? undefined : tree.get(targetPath);
  if (linked?.type === 'file') return linked;
  throw invalid(
    image,
    `hard link ${folder}/${path}`,
    `${folder}/${path} is a hard link to ${target}, which is not a file of the folder. Copy the file into the folder instead.`,
  );
}

/** The base64 content of a regular file or of a link to one the release carries; undefined for what is not a file. */
function fileContent(
  tree: Map<string, FolderEntry>,
  path: string,
  folder: string,
  image: string,
): string | undefined {
  let at = path;
  let entry = tree.get(path);
  for (let hops = 0; entry?.type === 'symlink' && hops < MAX_LINK_HOPS; hops++) {
    // Relative to the folder holding the link, as the kernel resolves it.
    const target = posix.resolve(posix.dirname(posix.join(folder, at)), entry.target);
    const targetPath = carriedPath(target, folder);
    const next = targetPath === undefined ? undefined : tree.get(targetPath);
    if (next?.type === 'directory') {
      throw invalid(
        image,
        `symbolic link ${folder}/${path} to a folder`,
        `${folder}/${path} is a symbolic link to the folder ${entry.target}; a release carries files, not links to folders. Put the folder itself there (COPY it, or cp -r) instead of a link.`,
      );
    }
    if (!next || next.type === 'other' || targetPath === undefined) {
      throw invalid(
        image,
        `symbolic link ${folder}/${path}`,
        `${folder}/${path} is a symbolic link to ${entry.target}, not to a file of the folder that a release carries, so it would not travel with the release. Copy the file into the folder instead.`,
      );
    }
    at = targetPath;
    entry = next;
  }
  if (entry?.type === 'symlink') {
    throw invalid(
      image,
      `symbolic link loop ${folder}/${path}`,
      `${folder}/${path} is a loop of symbolic links. Replace it with the file.`,
    );
  }
  return entry?.type === 'file' ? entry.content : undefined;
}
