import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateDown, migrateStatus, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { REPOSITORY } from '../../../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { addMigrations, migrationsDir, sqlModule } from '../../../support/migrationsDir.ts';
import { directDatabase, loadPipeline } from '../../../support/pipeline.ts';

const table = (name: string) => sqlModule(`create table ${name} (id int)`, `drop table ${name}`);

async function historySnapshot(db: TestDatabase) {
  return db.sql`select name, checksum from migration_pipeline_history order by id`;
}

describe('the migration history', () => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir({ '001-a.mjs': table('a'), '002-b.mjs': table('b') });
    await migrateUp({ database: db.url, migrationsDir: dir });
    await addMigrations(dir, { '003-c.mjs': table('c') });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('refuses to run when an applied migration changed (drift), and changes nothing', async () => {
    await writeFile(join(dir, '001-a.mjs'), table('a_renamed'));
    const before = await historySnapshot(db);

    const up = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);
    const down = await migrateDown({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(up.name).toBe(ErrorName.MigrationDrift);
    expect(up.message).toContain('001-a.mjs changed after it was applied');
    expect(down.name).toBe(ErrorName.MigrationDrift);
    expect(await historySnapshot(db)).toEqual(before);
    expect(await db.sql`select to_regclass('c') as c`).toEqual([{ c: null }]);
  });

  it('does not count a change of line endings as drift', async () => {
    await writeFile(join(dir, '001-a.mjs'), table('a').replace(/\n/g, '\r\n'));

    const result = await migrateUp({ database: db.url, migrationsDir: dir });

    expect(result.applied).toEqual(['003-c.mjs']);
  });

  it('refuses to run when an applied migration file is gone, and changes nothing', async () => {
    await rm(join(dir, '002-b.mjs'));
    const before = await historySnapshot(db);

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationMissing);
    expect(failure.context.migrations).toEqual(['002-b.mjs']);
    expect(await historySnapshot(db)).toEqual(before);
  });

  it('refuses a new file that sorts before an applied one, and changes nothing', async () => {
    await addMigrations(dir, { '000-late.mjs': table('late') });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationOutOfOrder);
    expect(failure.message).toContain("000-late.mjs is new but comes before 002-b.mjs in the folder's order");
    expect(await db.sql`select to_regclass('late') as t, to_regclass('c') as c`).toEqual([
      { t: null, c: null },
    ]);
  });

  it('sorts numbers as numbers, as ley does', async () => {
    await addMigrations(dir, { '10-j.mjs': table('j'), '9-i.mjs': table('i') });

    const result = await migrateUp({ database: db.url, migrationsDir: dir });

    expect(result.applied).toEqual(['003-c.mjs', '9-i.mjs', '10-j.mjs']);
  });

  it('status reports drift as a problem instead of failing', async () => {
    await writeFile(join(dir, '002-b.mjs'), table('b2'));

    const status = await migrateStatus({ database: db.url, migrationsDir: dir });

    expect(status.problems).toEqual([
      { name: ErrorName.MigrationDrift, message: expect.stringContaining('002-b.mjs') },
    ]);
    expect(status.pending).toEqual([{ name: '003-c.mjs' }]);
  });
});

describe('a history table another tool made', () => {
  it('is refused with ConfigurationInvalid naming the setting, through the connectivity handler', async () => {
    const db = await createTestDatabase();
    try {
      await db.sql`create table migration_pipeline_history (version bigint primary key, dirty boolean)`;
      const pipeline = await loadPipeline({
        MIGRATIONS_DIR: await migrationsDir({ '001-a.mjs': table('a') }),
        ...directDatabase(db.url),
      });
      const event = JSON.parse(readFileSync('events/connectivity-check.json', 'utf8'));
      event.input.image.uri = `${REPOSITORY}:v42`;
      delete event.input.image.digest;
      event.release.bundle = pipeline.bundle;

      const error = await pipeline.handlers
        .connectivityCheck(event, { getRemainingTimeInMillis: () => 120_000 } as never)
        .then(
          () => undefined,
          (e: Error & { context?: unknown }) => e,
        );

      expect(error?.name).toBe('ConfigurationInvalid');
      expect(error?.context).toEqual({ variable: 'MIGRATION_HISTORY_TABLE' });
      expect(error?.message).toContain('another tool');
    } finally {
      vi.unstubAllEnvs();
      await db.drop();
    }
  });
});
