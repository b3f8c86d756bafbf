/**
 * Bundles each Lambda handler (`functions/<name>/index.ts`) into `dist/<name>/index.mjs`, minified
 * ESM for Node 24 with source maps, ready for `sam deploy` (each CodeUri is one of these folders)
 * without `sam build` or Docker; and the CLI into `dist/cli/migration-pipeline.mjs`, the package's
 * `bin`: self-contained JavaScript for Node 22 and 24 (its shebang, kept from cli/bin.ts, makes
 * esbuild write it executable), so an app that installs the package runs no TypeScript of ours.
 */
import { existsSync } from 'node:fs';
import { cp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import { CLI_BUNDLE, NODE24_BUNDLE } from './bundleOptions.ts';

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
const output = {
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
} as const satisfies BuildOptions;
const entryPoints = await handlerEntries();
const results = await Promise.all([
  build({ entryPoints, ...NODE24_BUNDLE, ...output }),
  build({
    entryPoints: {
      'cli/migration-pipeline': join(root, 'cli', 'bin.ts'),
      // For teams that keep ley's own CLI: `ley up --driver node_modules/migration-pipeline/dist/cli/ley-driver.mjs`.
      'cli/ley-driver': join(root, 'functions', 'lib', 'migrations', 'leyDriver.ts'),
    },
    ...CLI_BUNDLE,
    ...output,
    // Each command's code in chunks of its own, imported when the command runs: `--help` parses
    // only the entry (see cli/main.ts).
    splitting: true,
    chunkNames: 'cli/chunks/[name]-[hash]',
  }),
]);
// The migrations travel in the release's image, not in the functions. The database functions verify
// TLS with the RDS CA bundle when certs/ holds it (see template.yaml, DatabaseTls).
const caBundle = join(root, 'certs', 'rds-global-bundle.pem');
for (const name of ['migrate', 'connectivity-check']) {
  if (entryPoints[`${name}/index`] && existsSync(caBundle)) {
    await cp(caBundle, join(dist, name, 'rds-global-bundle.pem'));
  }
}

for (const [file, { bytes }] of results.flatMap((result) => Object.entries(result.metafile.outputs))) {
  if (file.endsWith('.mjs')) console.log(`${file.replace(`${root}`, '')}  ${(bytes / 1024).toFixed(1)} KiB`);
}
