import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checksumOf } from '../../functions/lib/migrations/files.ts';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import {
  DRIZZLE_FOLDER,
  FLYWAY_FOLDER,
  GOLANG_MIGRATE_FOLDER,
  PRISMA_FOLDER,
} from '../support/foreignFolders.ts';
import { migrationsDir } from '../support/migrationsDir.ts';

/**
 * `migrate baseline` without --to reads the history the other tool left, in the shape that tool
 * creates it, and names the migration to baseline to; it records nothing.
 */
describe('migrate baseline names --to from the other tool’s own history', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const baselineWithoutTo = async (folder: Record<string, string>) => {
    const dir = await migrationsDir(folder);
    return runCliProcess(['migrate', 'baseline', '--dir', dir], {
      variables: { DATABASE_URL: db.url },
      cwd: dir,
    });
  };

  const CASES: [string, Record<string, string>, string, RegExp][] = [
    [
      'Flyway',
      FLYWAY_FOLDER,
      `create table flyway_schema_history (installed_rank int primary key, version varchar(50), description varchar(200) not null,
         type varchar(20) not null, script varchar(1000) not null, checksum int, installed_by varchar(100) not null,
         installed_on timestamp not null default now(), execution_time int not null, success boolean not null);
       insert into flyway_schema_history values
         (1, '1', 'create users', 'SQL', 'V1__create_users.sql', 1, 'ci', now(), 5, true),
         (2, '1.1', 'create orders', 'SQL', 'V1_1__create_orders.sql', 2, 'ci', now(), 5, true)`,
      /Its flyway_schema_history says the newest applied is V1_1__create_orders\.sql: "migrate baseline --to V1_1__create_orders\.sql"/,
    ],
    [
      'Flyway after an undo',
      FLYWAY_FOLDER,
      `create table flyway_schema_history (installed_rank int primary key, version varchar(50), description varchar(200) not null,
         type varchar(20) not null, script varchar(1000) not null, checksum int, installed_by varchar(100) not null,
         installed_on timestamp not null default now(), execution_time int not null, success boolean not null);
       insert into flyway_schema_history values
         (1, '1', 'create users', 'SQL', 'V1__create_users.sql', 1, 'ci', now(), 5, true),
         (2, '1.1', 'create orders', 'SQL', 'V1_1__create_orders.sql', 2, 'ci', now(), 5, true),
         (3, '1.1', 'create orders', 'UNDO_SQL', 'U1_1__create_orders.sql', 3, 'ci', now(), 5, true)`,
      /says the newest applied is V1__create_users\.sql/,
    ],
    [
      'Flyway with a failed migration',
      FLYWAY_FOLDER,
      `create table flyway_schema_history (installed_rank int primary key, version varchar(50), description varchar(200) not null,
         type varchar(20) not null, script varchar(1000) not null, checksum int, installed_by varchar(100) not null,
         installed_on timestamp not null default now(), execution_time int not null, success boolean not null);
       insert into flyway_schema_history values (1, '1', 'create users', 'SQL', 'V1__create_users.sql', 1, 'ci', now(), 5, false)`,
      /cannot be trusted yet: Flyway recorded V1__create_users\.sql as failed/,
    ],
    [
      'Prisma',
      PRISMA_FOLDER,
      `create table _prisma_migrations (id varchar(36) primary key, checksum varchar(64) not null, finished_at timestamptz,
         migration_name varchar(255) not null, logs text, rolled_back_at timestamptz, started_at timestamptz not null default now(),
         applied_steps_count int not null default 0);
       insert into _prisma_migrations (id, checksum, finished_at, migration_name) values
         ('b', 'x', now(), '20240212110000_orders'), ('a', 'x', now(), '20240105093000_init')`,
      /Its _prisma_migrations says the newest applied is 20240212110000_orders/,
    ],
    [
      'golang-migrate left dirty',
      GOLANG_MIGRATE_FOLDER,
      `create table schema_migrations (version bigint not null primary key, dirty boolean not null);
       insert into schema_migrations values (2, true)`,
      /golang-migrate left version 2 dirty/,
    ],
    [
      'golang-migrate',
      GOLANG_MIGRATE_FOLDER,
      `create table schema_migrations (version bigint not null primary key, dirty boolean not null);
       insert into schema_migrations values (2, false)`,
      /newest applied is 000002_create_orders/,
    ],
    [
      'Drizzle',
      DRIZZLE_FOLDER,
      `create schema drizzle;
       create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint);
       insert into drizzle.__drizzle_migrations (hash, created_at) values
         ('${checksumOf(DRIZZLE_FOLDER['0000_melted_sentinel.sql'] as string)}', 1704447000000),
         ('${checksumOf(DRIZZLE_FOLDER['0001_orders.sql'] as string)}', 1707735600000)`,
      /Its drizzle\.__drizzle_migrations says the newest applied is 0001_orders/,
    ],
    [
      'dbmate',
      {
        '20240101000000_a.sql': '-- migrate:up\nselect 1;\n',
        '20240102000000_b.sql': '-- migrate:up\nselect 1;\n',
        '20240103000000_c.sql': '-- migrate:up\nselect 1;\n',
      },
      `create table schema_migrations (version varchar(128) primary key);
       insert into schema_migrations values ('20240101000000'), ('20240102000000')`,
      /Its schema_migrations says the newest applied is 20240102000000_b\.sql/,
    ],
    [
      'no other tool',
      FLYWAY_FOLDER,
      'select 1',
      /Give --to NAME: .* Run "migrate status" to see the names\./,
    ],
  ];

  for (const [tool, folder, history, suggestion] of CASES) {
    it(`${tool}`, async () => {
      await db.sql.unsafe(history);
      const result = await baselineWithoutTo(folder);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(suggestion);
      const [recorded] = await db.sql`select to_regclass('migration_pipeline_history') is not null as found`;
      expect(recorded?.found).toBe(false);
    });
  }
});
