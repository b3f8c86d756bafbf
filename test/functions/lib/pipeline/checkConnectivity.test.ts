import { writeFile } from 'node:fs/promises';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PipelineInput } from '../../../../functions/lib/contract/events.ts';
import { connect } from '../../../../functions/lib/db/connection.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrationLockKey } from '../../../../functions/lib/migrations/advisoryLock.ts';
import { DEFAULT_SETTINGS, migrateUp, systemClock } from '../../../../functions/lib/migrations/index.ts';
import { checkConnectivity } from '../../../../functions/lib/pipeline/checkConnectivity.ts';
import { noMetrics } from '../../../../functions/lib/pipeline/metrics.ts';
import { DIGEST, REPOSITORY } from '../../../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir, sqlModule } from '../../../support/migrationsDir.ts';

const input = { image: { uri: `${REPOSITORY}:v42`, digest: DIGEST }, source: 'ci' };
const BUNDLE = { sha256: 'a'.repeat(64), key: `bundles/${'a'.repeat(64)}.tar`, migrations: 2 };

describe('the connectivity check', () => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    dir = await migrationsDir({
      '001-a.mjs': sqlModule('create table a (id int)', 'drop table a'),
      '002-b.mjs': sqlModule('create table b (id int)', 'drop table b'),
    });
  });
  afterEach(async () => {
    await db.drop();
  });

  const check = (overrides = {}, checkedInput: PipelineInput = input) =>
    checkConnectivity(
      {
        input: checkedInput,
        // The resolve step pins what the input names; the folder stands in for the image's bundle.
        release: { image: checkedInput.image, bundle: BUNDLE, migrationsPath: '/app/migrations' },
        executionId: 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:release-v42',
        startedAt: new Date().toISOString(),
      },
      {
        openDatabase: () => connect(db.url),
        migrationsFor: async () => dir,
        settings: DEFAULT_SETTINGS,
        allowedRepository: REPOSITORY,
        longTransactionSeconds: 1,
        releaseLifetimeMs: 7_200_000,
        clock: systemClock,
        metrics: noMetrics,
        ...overrides,
      },
    );

  it('reports the server, what is applied and pending, and the image it would deploy', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir, to: '001-a' });

    const report = await check();

    expect(report).toMatchObject({
      database: db.name,
      tls: false,
      applied: ['001-a.mjs'],
      pending: ['002-b.mjs'],
      image: `${REPOSITORY}@${DIGEST}`,
      lockFree: true,
      longTransactions: [],
      invalidIndexes: [],
    });
    expect(report.serverVersion).toMatch(/^1[3-9]/);
    expect(report.connections).toBeGreaterThan(0);
    expect(report.maxConnections).toBeGreaterThan(report.connections);
  });

  it('names a held migration lock and transactions that would block DDL', async () => {
    const other = postgres(db.url, { max: 2 });
    const [{ pid: holderPid }] = await other<[{ pid: number }]>`select pg_backend_pid() as pid`;
    await other`select pg_advisory_lock(${migrationLockKey(DEFAULT_SETTINGS.historyTable).toString()}::bigint)`;
    let release = () => {};
    const open = other.begin(async (tx) => {
      await tx`select 1`;
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await new Promise((r) => setTimeout(r, 1200));

    try {
      const report = await check();
      expect(report.lockFree).toBe(false);
      expect(report.lockHolderPid).toBe(holderPid);
      expect(report.longTransactions).toEqual([
        expect.objectContaining({ transactionSeconds: expect.any(Number) }),
      ]);
    } finally {
      release();
      await open;
      await other.end();
    }
  });

  it('accepts an older image whose migrations the schema is ahead of, and refuses a gap', async () => {
    await migrateUp({ database: db.url, migrationsDir: dir });
    const older = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });

    const report = await check({ migrationsFor: async () => older });
    expect(report).toMatchObject({
      applied: ['001-a.mjs', '002-b.mjs'],
      pending: [],
      schemaAheadBy: ['002-b.mjs'],
    });

    const gap = await migrationsDir({ '002-b.mjs': sqlModule('create table b (id int)', 'drop table b') });
    const missing = await check({ migrationsFor: async () => gap }).catch((e) => e);
    expect(missing.name).toBe(ErrorName.MigrationMissing);
  });

  it('fails before touching the database on a foreign image, and on drift', async () => {
    let opened = false;
    const foreign = await check(
      {
        openDatabase: async () => {
          opened = true;
          return connect(db.url);
        },
      },
      { image: { uri: 'docker.io/library/postgres:17' }, source: 'ci' },
    ).catch((e) => e);
    expect(foreign.name).toBe(ErrorName.InvalidInput);
    expect(opened).toBe(false);

    await migrateUp({ database: db.url, migrationsDir: dir });
    await writeFile(`${dir}/001-a.mjs`, sqlModule('create table a2 (id int)', 'drop table a2'));
    const drift = await check().catch((e) => e);
    expect(drift.name).toBe(ErrorName.MigrationDrift);
  });
});
