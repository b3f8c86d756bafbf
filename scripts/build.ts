/**
 * Bundles each Lambda handler (`functions/<name>/index.ts`) into `dist/<name>/index.mjs` and the CLI
 * into `dist/cli/migration-pipeline.mjs`: minified ESM for Node 24 with source maps, ready for
 * `sam deploy` (each CodeUri is one of these folders) without `sam build` or Docker.
 */
import { existsSync } from 'node:fs';
import { cp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { NODE24_BUNDLE } from './bundleOptions.ts';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

async function handlerEntries(): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of await readdir(join(root, 'functions'))) {
    if (name === 'lib') continue;
    const entry = join(root, 'functions', name, 'index.ts');
    if (
      await stat(entry).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      entries[`${name}/index`] = entry;
  }
  return entries;
}

await rm(dist, { recursive: true, force: true });
const entryPoints: Record<string, string> = {
  ...(await handlerEntries()),
  'cli/migration-pipeline': join(root, 'cli', 'bin.ts'),
};
const result = await build({
  entryPoints,
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  ...NODE24_BUNDLE,
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});
// The migrations travel in the release's image, not in the functions. The database functions verify
// TLS with the RDS CA bundle when certs/ holds it (see template.yaml, DatabaseTls).
const caBundle = join(root, 'certs', 'rds-global-bundle.pem');
for (const name of ['migrate', 'connectivity-check']) {
  if (entryPoints[`${name}/index`] && existsSync(caBundle)) {
    await cp(caBundle, join(dist, name, 'rds-global-bundle.pem'));
  }
}

for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.mjs'))
    console.log(`${file.replace(`${root}`, '')}  ${(output.bytes / 1024).toFixed(1)} KiB`);
}
