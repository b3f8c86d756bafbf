import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { detectMigrationFormat } from '../../../../functions/lib/migrations/formats/detect.ts';
import { migrateDown, migrateStatus, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import {
  DRIZZLE_FOLDER,
  DRIZZLE_NAMES,
  FLYWAY_FOLDER,
  FLYWAY_NAMES,
  GOLANG_MIGRATE_FOLDER,
  GOLANG_MIGRATE_NAMES,
  PRISMA_FOLDER,
  PRISMA_NAMES,
} from '../../../support/foreignFolders.ts';
import { addMigrations, migrationsDir } from '../../../support/migrationsDir.ts';

/** Tables and indexes of the public schema, the engine's own tables left out, lower-cased. */
async function relations(db: TestDatabase): Promise<string[]> {
  const rows = await db.sql<{ name: string }[]>`
    select lower(relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and relkind in ('r', 'i') and relname not like 'migration_pipeline_%' order by 1`;
  return rows.map((row) => row.name);
}

async function invalidIndexCount(db: TestDatabase): Promise<number> {
  const [row] = await db.sql<{ count: number }[]>`
    select count(*)::int as count from pg_index where not indisvalid`;
  return row?.count ?? -1;
}

/** Written as Flyway users write it; built from parts so that it reads as no template placeholder here. */
const FLYWAY_PLACEHOLDER = ['$', '{schema}'].join('');

const FORMATS = [
  {
    format: 'prisma',
    folder: PRISMA_FOLDER,
    names: PRISMA_NAMES,
    tables: ['order', 'order_pkey', 'order_userid_idx', 'user', 'user_email_key', 'user_pkey'],
    reversible: false,
  },
  {
    format: 'drizzle',
    folder: DRIZZLE_FOLDER,
    names: DRIZZLE_NAMES,
    tables: ['orders', 'orders_pkey', 'orders_user_id_idx', 'users', 'users_email_unique', 'users_pkey'],
    reversible: false,
  },
  {
    format: 'flyway',
    folder: FLYWAY_FOLDER,
    names: FLYWAY_NAMES,
    tables: ['orders', 'orders_pkey', 'orders_user_id_idx', 'users', 'users_email_key', 'users_pkey'],
    reversible: true,
  },
  {
    format: 'golang-migrate',
    folder: GOLANG_MIGRATE_FOLDER,
    names: GOLANG_MIGRATE_NAMES,
    tables: ['orders', 'orders_pkey', 'orders_user_id_idx', 'users', 'users_email_key', 'users_pkey'],
    reversible: true,
  },
] as const;

describe("other tools' migration folders, read as they are", () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  for (const { format, folder, names, tables, reversible } of FORMATS) {
    it(`${format}: detected, applied in the tool's order, each migration once, then ${reversible ? 'reverted' : 'kept (forward-only)'}`, async () => {
      const dir = await migrationsDir(folder);
      expect(await detectMigrationFormat(dir)).toBe(format);

      const up = await migrateUp({ database: db.url, migrationsDir: dir });
      expect(up.applied).toEqual([...names]);
      expect(await relations(db)).toEqual([...tables]);
      // The concurrent index ran outside a transaction, as PostgreSQL requires, and finished valid.
      expect(await invalidIndexCount(db)).toBe(0);

      const again = await migrateUp({ database: db.url, migrationsDir: dir });
      expect(again.applied).toEqual([]);
      const status = await migrateStatus({ database: db.url, migrationsDir: dir });
      expect(status.problems).toEqual([]);
      expect(status.applied.map((row) => row.name)).toEqual([...names]);

      if (reversible) {
        const down = await migrateDown({ database: db.url, migrationsDir: dir, step: names.length });
        expect(down.reverted).toEqual([...names].reverse());
        expect(await relations(db)).toEqual([]);
        const reapplied = await migrateUp({ database: db.url, migrationsDir: dir });
        expect(reapplied.applied).toEqual([...names]);
      } else {
        await expect(migrateDown({ database: db.url, migrationsDir: dir })).rejects.toThrow(/has no down/);
        expect(await relations(db)).toEqual([...tables]);
      }
    });
  }

  it('golang-migrate: a file wrapped in BEGIN; … COMMIT; is one transaction, the engine’s: a failure leaves nothing', async () => {
    const dir = await migrationsDir({
      '1_broken.up.sql': 'BEGIN;\nCREATE TABLE half (id int);\nSELECT no_such_function();\nCOMMIT;\n',
      '1_broken.down.sql': 'DROP TABLE half;\n',
    });
    await expect(migrateUp({ database: db.url, migrationsDir: dir })).rejects.toMatchObject({
      name: ErrorName.MigrationFailed,
    });
    expect(await relations(db)).toEqual([]);
    expect((await migrateStatus({ database: db.url, migrationsDir: dir })).applied).toEqual([]);
  });

  it('a later migration after a baseline of earlier ones: Flyway version order decides, not file-name order', async () => {
    const dir = await migrationsDir(FLYWAY_FOLDER);
    const first = await migrateUp({ database: db.url, migrationsDir: dir, to: 'V1_1__create_orders' });
    expect(first.applied).toEqual(['V1__create_users.sql', 'V1_1__create_orders.sql']);
    // V1_2 comes after V1_1 and before V2 and V10 as a version (not as text): the next to apply.
    await addMigrations(dir, { 'V1_2__late.sql': 'SELECT 1;' });
    await expect(migrateUp({ database: db.url, migrationsDir: dir })).resolves.toMatchObject({
      applied: ['V1_2__late.sql', 'V2__order_user_index.sql', 'V10__order_note.sql'],
    });
  });
});

describe('folders refused before anything runs, naming the file and what to do', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const REFUSALS: [string, Record<string, string>, RegExp][] = [
    [
      'a Flyway repeatable',
      { 'V1__a.sql': 'SELECT 1;', 'R__views.sql': 'SELECT 1;' },
      /R__views\.sql: .*repeatable/,
    ],
    [
      'a Flyway placeholder',
      { 'V1__a.sql': `CREATE TABLE ${FLYWAY_PLACEHOLDER}.t (id int);` },
      /V1__a\.sql: .*placeholder \$\{schema\}/,
    ],
    [
      'a Flyway callback',
      { 'V1__a.sql': 'SELECT 1;', 'afterMigrate.sql': 'SELECT 1;' },
      /afterMigrate\.sql: .*callback/,
    ],
    [
      'a Flyway undo without its version',
      { 'V1__a.sql': 'SELECT 1;', 'U2__b.sql': 'SELECT 1;' },
      /U2__b\.sql: .*no V script/,
    ],
    [
      'two Flyway scripts of one version',
      { 'V1__a.sql': 'SELECT 1;', 'V1.0__b.sql': 'SELECT 1;' },
      /same version/,
    ],
    [
      'an unknown Flyway script setting',
      { 'V1__a.sql': 'SELECT 1;', 'V1__a.sql.conf': 'mixed=true\n' },
      /V1__a\.sql\.conf:1: .*not a setting/,
    ],
    [
      'a concurrent index beside other statements',
      { '1_a.up.sql': 'CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n' },
      /1_a:2: CREATE INDEX CONCURRENTLY .*migration of its own/,
    ],
    [
      'a COMMIT inside a transactional file',
      { '1_a.up.sql': 'CREATE TABLE t (id int);\nCOMMIT;\nCREATE TABLE u (id int);\n' },
      /1_a:2: COMMIT/,
    ],
    [
      'a golang-migrate duplicate version',
      { '1_a.up.sql': 'SELECT 1;', '01_b.up.sql': 'SELECT 1;' },
      /same version/,
    ],
    [
      'a Drizzle journal for another database',
      { ...DRIZZLE_FOLDER, 'meta/_journal.json': '{"dialect":"mysql","entries":[]}' },
      /generated for mysql/,
    ],
    [
      'a Prisma folder for another database',
      { ...PRISMA_FOLDER, 'migration_lock.toml': 'provider = "sqlite"\n' },
      /written for sqlite/,
    ],
    [
      'a Prisma migration folder without migration.sql',
      { ...PRISMA_FOLDER, '20240401000000_empty/README.md': 'nothing' },
      /20240401000000_empty: it holds no migration\.sql/,
    ],
    [
      'a Prisma migration folder that is a symbolic link',
      PRISMA_FOLDER,
      /20240401000000_linked: it is a symbolic link to a folder/,
    ],
    [
      'a BEGIN that no COMMIT ends',
      { '1_a.up.sql': 'CREATE TABLE t (id int);\nBEGIN;\nCREATE TABLE u (id int);\n' },
      /1_a:2: BEGIN opens a block that no COMMIT ends/,
    ],
    [
      'a Flyway script two folders down, which a release would not carry',
      { 'V1__a.sql': 'SELECT 1;', 'v2/old/V2__b.sql': 'SELECT 1;' },
      /v2\/old\/V2__b\.sql: it is more than one folder below/,
    ],
    [
      'a Flyway subfolder that is a symbolic link',
      { 'V1__a.sql': 'SELECT 1;', 'elsewhere/V2__b.sql': 'SELECT 1;' },
      /linked: it is a symbolic link to a folder/,
    ],
    [
      'two layouts in one folder',
      { '001-a.ts': 'export async function up() {}', 'V2__b.sql': 'SELECT 1;' },
      /mixes two layouts/,
    ],
  ];

  for (const [what, files, message] of REFUSALS) {
    it(`refuses ${what}`, async () => {
      const dir = await migrationsDir(files);
      if (what.startsWith('a Flyway subfolder')) await symlink(join(dir, 'elsewhere'), join(dir, 'linked'));
      else if (what.includes('symbolic link'))
        await symlink(join(dir, PRISMA_NAMES[0] as string), join(dir, '20240401000000_linked'));
      const error = await migrateUp({ database: db.url, migrationsDir: dir }).catch(
        (caught: Error) => caught,
      );
      expect(error).toMatchObject({ name: ErrorName.MigrationInvalid });
      expect((error as Error).message).toMatch(message);
      expect(await relations(db)).toEqual([]);
    });
  }
});

describe('real folders as their tools leave them', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const applied = async (files: Record<string, string>) => {
    const dir = await migrationsDir(files);
    return (await migrateUp({ database: db.url, migrationsDir: dir })).applied;
  };

  it("Prisma's enum change: a BEGIN; … COMMIT; block amid the file, then more statements, all in one transaction", async () => {
    const enumChange = `-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'OWNER');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;

-- AlterTable
ALTER TABLE "User" ADD COLUMN "name" TEXT;
`;
    expect(
      await applied({ ...PRISMA_FOLDER, '20240401000000_roles/migration.sql': enumChange }),
    ).toHaveLength(4);
    const [row] = await db.sql`select enum_range(null::"Role")::text as labels`;
    expect(row?.labels).toBe('{USER,OWNER}');
  });

  it('a block with SET TRANSACTION right after its BEGIN: the engine’s transaction stands in for it', async () => {
    expect(
      await applied({
        '1_a.up.sql':
          'BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE t (id int);\nCOMMIT;\n',
      }),
    ).toEqual(['1_a']);
  });

  it("a file's own lock_timeout gives way to the engine's (trigger.dev-style SET, pg_dump's preamble)", async () => {
    expect(
      await applied({
        'V1__baseline.sql':
          "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSELECT pg_catalog.set_config('search_path', 'public', false);\nCREATE TABLE base (id int);\n",
        'V2__tighter.sql':
          "SET lock_timeout = '5s';\nCREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout;\n",
      }),
    ).toEqual(['V1__baseline.sql', 'V2__tighter.sql']);
    const [row] = await db.sql`select lock_timeout from seen`;
    expect(row?.lock_timeout).not.toBe('5s');
    expect(row?.lock_timeout).toMatch(/^\d+ms$/);
  });

  it('golang-migrate: an up and a down of one version with other titles, a version with only a down, a seed file skipped', async () => {
    const dir = await migrationsDir({
      '1_create_t.up.sql': 'CREATE TABLE t (id int);',
      '1_drop_t.down.sql': 'DROP TABLE t;',
      '2_only_down.down.sql': 'SELECT 1;',
      'seed.sql': 'INSERT INTO nothing VALUES (1);',
    });
    expect((await migrateUp({ database: db.url, migrationsDir: dir })).applied).toEqual([
      '1_create_t',
      '2_only_down',
    ]);
    const down = await migrateDown({ database: db.url, migrationsDir: dir, step: 2 });
    expect(down.reverted).toEqual(['2_only_down', '1_create_t']);
    expect(await relations(db)).toEqual([]);
  });

  it("Drizzle: the journal is the list; drizzle-kit pull's schema.ts and relations.ts and a file it dropped stay out", async () => {
    expect(
      await applied({
        ...DRIZZLE_FOLDER,
        'schema.ts': 'export const users = {};',
        'relations.ts': 'export const relations = {};',
        '0009_dropped.sql': 'SELECT no_such_function();',
      }),
    ).toEqual([...DRIZZLE_NAMES]);
  });

  it('Flyway: scripts in subfolders count, named by their path, with their .sql.conf; a placeholder runs as written where replacement is off', async () => {
    expect(
      await applied({
        'V1__create_t.sql': 'CREATE TABLE t (id int, note text);',
        'v2/V2__index_t.sql': 'CREATE INDEX CONCURRENTLY t_id ON t (id);',
        'v2/V2__index_t.sql.conf': 'executeInTransaction=false\n',
        'v2/V3__note.sql': `INSERT INTO t VALUES (1, '${FLYWAY_PLACEHOLDER}');`,
        'v2/V3__note.sql.conf': 'placeholderReplacement=false\n',
        'notes.txt': 'not a script',
        'seed.sql': 'not a script Flyway runs',
      }),
    ).toEqual(['V1__create_t.sql', 'v2/V2__index_t.sql', 'v2/V3__note.sql']);
  });

  it('dbmate: a schema dump beside the migrations is not one (dbmate reads only files that start with their version)', async () => {
    expect(
      await applied({
        '20240101000000_create_t.sql':
          '-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n',
        'schema.sql': 'SET statement_timeout = 0;\nCREATE TABLE t (id int);\n',
      }),
    ).toEqual(['20240101000000_create_t.sql']);
  });
});
