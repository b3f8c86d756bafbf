import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BundleInvalid } from '../errors.ts';
import { type BundleRef, sha256Of } from './bundle.ts';

/** Where bundles are kept between the step that packs them and the steps that apply them. */
export interface BundleStore {
  /** Where it is, for messages and logs: `s3://bucket` or a folder. */
  describe: string;
  /** Keeps the archive at ref.key; a bundle already there with the same bytes is left as it is. */
  put(ref: BundleRef, archive: Buffer): Promise<void>;
  get(ref: BundleRef): Promise<Buffer>;
}

/** Bundles in a folder on this machine: for the CLI and the local run. */
export function directoryBundleStore(dir: string): BundleStore {
  const pathOf = (ref: BundleRef) => join(dir, ref.key);
  return {
    describe: dir,
    async put(ref, archive) {
      const path = pathOf(ref);
      const existing = await readFile(path).catch(() => undefined);
      if (existing && sha256Of(existing) === ref.sha256) return;
      await mkdir(dirname(path), { recursive: true });
      // Written aside, then renamed: a reader never finds half a bundle at its content address.
      const partial = `${path}.${randomUUID()}.partial`;
      try {
        await writeFile(partial, archive);
        await rename(partial, path);
      } finally {
        await rm(partial, { force: true });
      }
    },
    async get(ref) {
      try {
        return await readFile(pathOf(ref));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        throw missingBundle(ref, join(dir, ref.key));
      }
    },
  };
}

/** The store has no such bundle: only the release's first step writes one, so the release must start again. */
export function missingBundle(ref: BundleRef, where: string): BundleInvalid {
  return new BundleInvalid(
    `The migrations bundle ${where} is not in the bundle store: it expired or was never written. ` +
      'Start the release again from the image: its first step writes the bundle anew.',
    { key: ref.key, problem: 'not found' },
  );
}
