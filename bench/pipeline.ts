import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderResolveHandler } from '../cli/local/folderRelease.ts';
import { loadHandlers } from '../cli/local/handlers.ts';
import { startLocalExecution } from '../cli/local/stateMachine.ts';
import { directoryBundleStore } from '../functions/lib/bundle/store.ts';
import { freshDatabase, writeMigrations } from './support.ts';

export interface PipelineRun {
  pending: number;
  wallMs: number;
  /** States entered: what Step Functions Standard bills per execution. */
  stateTransitions: number;
}

/** The local run (real ASL, real handlers in-process) with `pendings` migrations pending, in turn. */
export async function measurePipeline(adminUrl: string, pendings: number[]): Promise<PipelineRun[]> {
  const db = await freshDatabase(adminUrl);
  const total = Math.max(...pendings);
  const dir = await writeMigrations(
    Object.fromEntries(
      Array.from({ length: total }, (_, i) => [
        `${String(i + 1).padStart(3, '0')}-t${i}.mjs`,
        { up: `create table t${i} (id int)`, down: `drop table t${i}` },
      ]),
    ),
  );
  const repository = '000000000000.dkr.ecr.us-east-1.amazonaws.com/app';
  const bundleDir = await mkdtemp(join(tmpdir(), 'bench-bundles-'));
  const handlers = await loadHandlers({
    DATABASE_URL: db.url,
    BUNDLE_DIR: bundleDir,
    ECR_REPOSITORY_URI: repository,
    DEPLOY_DRY_RUN: 'true',
  });
  // As `npm start -- --dir`: the folder stands in for the image's migrations.
  handlers.resolveImage = folderResolveHandler(dir, directoryBundleStore(bundleDir), repository);
  const runs: PipelineRun[] = [];
  // Pending counts in decreasing order: each run applies the difference, the last finds nothing.
  const { default: postgres } = await import('postgres');
  for (const pending of [...pendings].sort((a, b) => b - a)) {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const applied = total - pending;
    await sql.unsafe(`delete from migration_pipeline_history where true`).catch(() => {});
    for (let i = 0; i < total; i++) await sql.unsafe(`drop table if exists t${i}`);
    await sql.end();
    if (applied > 0) {
      const { migrateUp } = await import('../functions/lib/migrations/index.ts');
      await migrateUp({ database: db.url, migrationsDir: dir, step: applied });
    }
    const started = performance.now();
    const execution = await startLocalExecution(
      { image: { uri: '000000000000.dkr.ecr.us-east-1.amazonaws.com/app:bench' }, source: 'bench' },
      handlers,
      { executionName: `bench-${randomUUID().slice(0, 8)}`, waitMs: 0, retryMs: 0 },
    );
    let stateTransitions = 0;
    for await (const event of execution.eventLogs) if (event.type === 'StateEntered') stateTransitions++;
    await execution.result;
    runs.push({ pending, wallMs: performance.now() - started, stateTransitions });
  }
  await db.drop();
  await rm(bundleDir, { recursive: true, force: true });
  return runs;
}
