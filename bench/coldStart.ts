import { execFile } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { NODE24_BUNDLE } from '../scripts/bundleOptions.ts';
import { median } from './support.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

export interface ColdStartResult {
  function: string;
  /** As the template deploys it: one minified, tree-shaken ESM file with the SDK inside. */
  bundledBytes: number;
  bundledImportMs: number;
  /** The alternative: not minified, no tree-shaking, the AWS SDK left to node_modules (as the runtime's copy would be). */
  externalBytes: number;
  externalImportMs: number;
}

/**
 * Each function's bundle size and the median time a fresh Node process takes to import it, against
 * the same handler bundled without minification or tree-shaking and with the SDK external.
 */
export async function measureColdStart(samples = 11): Promise<ColdStartResult[]> {
  const out = join(root, 'bench', '.out');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const results: ColdStartResult[] = [];
  for (const name of ['resolve-image', 'connectivity-check', 'migrate', 'deploy']) {
    const entry = join(root, 'functions', name, 'index.ts');
    const common = { ...NODE24_BUNDLE, entryPoints: [entry], logLevel: 'error' as const };
    const bundled = join(out, `${name}.bundled.mjs`);
    const external = join(out, `${name}.external.mjs`);
    await build({ ...common, outfile: bundled, minify: true });
    await build({
      ...common,
      outfile: external,
      minify: false,
      treeShaking: false,
      external: [...NODE24_BUNDLE.external, '@aws-sdk/*', '@smithy/*'],
    });
    results.push({
      function: name,
      bundledBytes: (await stat(bundled)).size,
      bundledImportMs: median(await importTimes(bundled, samples)),
      externalBytes: (await stat(external)).size,
      externalImportMs: median(await importTimes(external, samples)),
    });
  }
  await rm(out, { recursive: true, force: true });
  return results;
}

async function importTimes(file: string, samples: number): Promise<number[]> {
  const script = `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`;
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, POWERTOOLS_METRICS_DISABLED: 'true', AWS_REGION: 'us-east-1' },
    });
    times.push(Number(stdout.trim()));
  }
  return times;
}
