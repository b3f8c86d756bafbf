import { join } from 'node:path';
import { describeTarget } from '../functions/lib/db/connection.ts';
import { applyTlsPolicy } from '../functions/lib/db/connectionUrl.ts';
import { tlsPolicyFromEnv } from '../functions/lib/db/tls.ts';
import type { CliIo } from './io.ts';

/** The folder, under the project, where the embedded server keeps its data between runs (git-ignored). */
const LOCAL_STATE_DIR = '.migration-pipeline';

export interface CliDatabase {
  url: string;
  release(): Promise<void>;
}

/**
 * `DATABASE_URL` when set, with the TLS that DATABASE_TLS and DATABASE_CA_BUNDLE ask for written
 * in; otherwise the embedded PostgreSQL, whose data stays in `.migration-pipeline/` so the next
 * command sees what this one applied.
 */
async function openCliDatabase(io: CliIo): Promise<CliDatabase> {
  if (io.env.DATABASE_URL) {
    const { url, mode } = applyTlsPolicy(io.env.DATABASE_URL, tlsPolicyFromEnv(io.env, io.cwd));
    io.stderr(`Database: ${describeTarget(url)} (DATABASE_URL, TLS ${mode})\n`);
    return { url, release: async () => {} };
  }
  const dir = join(io.cwd, LOCAL_STATE_DIR);
  // Loaded only when needed: with DATABASE_URL set, the embedded server's package stays unloaded.
  const { startEmbeddedPostgres } = await import('./local/embeddedPostgres.ts');
  const server = await startEmbeddedPostgres({ dir });
  io.stderr(
    `Database: the embedded PostgreSQL in ${LOCAL_STATE_DIR}/ (${server.started ? 'started' : 'already running'}; set DATABASE_URL to use another server)\n`,
  );
  return { url: server.url, release: () => server.stop() };
}

/** Opens the database, runs `body`, and lets go of it whatever happens. */
export async function withCliDatabase<T>(io: CliIo, body: (url: string) => Promise<T>): Promise<T> {
  const database = await openCliDatabase(io);
  try {
    return await body(database.url);
  } finally {
    await database.release();
  }
}
