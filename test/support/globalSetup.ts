import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type LocalServer, startEmbeddedPostgres } from '../../cli/local/embeddedPostgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

let server: LocalServer | undefined;
let dir: string | undefined;

/** One real PostgreSQL for the whole run: `DATABASE_URL` when set, else the embedded server. */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.DATABASE_URL) {
    project.provide('adminUrl', process.env.DATABASE_URL);
    return;
  }
  dir = await mkdtemp(join(tmpdir(), 'migration-pipeline-test-'));
  server = await startEmbeddedPostgres({ dir, persistent: false });
  project.provide('adminUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}
