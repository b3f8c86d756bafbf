import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createDriver,
  DEFAULT_SETTINGS,
  migrateStatus,
  resolveSettings,
} from '../../../../functions/lib/migrations/index.ts';
import { silentLog, systemClock } from '../../../../functions/lib/runtime.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir, sqlModule } from '../../../support/migrationsDir.ts';

const ley = createRequire(import.meta.url)('ley') as {
  up(options: object): Promise<string[]>;
  down(options: object): Promise<string[]>;
  status(options: object): Promise<string[]>;
};
const run = promisify(execFile);

const files = {
  '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
  '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
};

describe('ley compatibility', () => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir(files);
  });
  afterEach(async () => {
    await db.drop();
  });

  it("drives ley's own up, status and down API, recording our history", async () => {
    const driver = createDriver({
      database: db.url,
      migrationsDir: dir,
      runId: 'ley-api',
      settings: DEFAULT_SETTINGS,
      clock: systemClock,
      log: silentLog,
    });

    expect(await ley.status({ cwd: dir, dir: '.', driver })).toEqual(['001-a.mjs', '002-b.mjs']);
    await ley.up({ cwd: dir, dir: '.', driver });
    const status = await migrateStatus({ database: db.url, migrationsDir: dir });
    expect(status.applied.map((row) => [row.name, row.appliedBy])).toEqual([
      ['001-a.mjs', 'ley-api'],
      ['002-b.mjs', 'ley-api'],
    ]);
    await ley.down({ cwd: dir, dir: '.', driver });
    const after = await migrateStatus({ database: db.url, migrationsDir: dir });
    expect(after.applied.map((row) => row.name)).toEqual(['001-a.mjs']);
  });

  it("works as `ley up --driver` from ley's own CLI", async () => {
    const bin = resolve('node_modules/ley/bin.js');
    const driver = resolve('functions/lib/migrations/leyDriver.ts');

    const { stdout } = await run(process.execPath, [bin, 'up', '--dir', '.', '--driver', driver], {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: db.url, MIGRATIONS_DIR: dir, MIGRATION_RUN_ID: 'ley-cli' },
    });

    expect(stdout).toContain('Migrated 2 files');
    const rows = await db.sql`select name, applied_by from migration_pipeline_history order by id`;
    expect(rows).toEqual([
      { name: '001-a.mjs', applied_by: 'ley-cli' },
      { name: '002-b.mjs', applied_by: 'ley-cli' },
    ]);
  });

  it('keeps its one-run-at-a-time lock under ley', async () => {
    const settings = resolveSettings({ lockWaitMs: 200 });
    const holder = createDriver({
      database: db.url,
      migrationsDir: dir,
      runId: 'holder',
      settings,
      clock: systemClock,
      log: silentLog,
    });
    const session = await holder.connect();
    try {
      const driver = createDriver({
        database: db.url,
        migrationsDir: dir,
        runId: 'second',
        settings,
        clock: systemClock,
        log: silentLog,
      });
      const failure = await ley.up({ cwd: dir, dir: '.', driver }).catch((e: Error) => e);
      expect((failure as Error).name).toBe('MigrationLockBusy');
    } finally {
      await holder.end(session);
    }
  });
});
