import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateDown, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { splitStatements } from '../../../../functions/lib/migrations/sqlFile.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

async function relations(db: TestDatabase): Promise<string[]> {
  const rows = await db.sql<{ name: string }[]>`
    select relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and relkind in ('r', 'i') and relname not like 'migration_pipeline_history%' order by 1`;
  return rows.map((row) => row.name);
}

describe('migration formats', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('runs ley modules as ESM, CommonJS and TypeScript, and dbmate-style SQL files', async () => {
    const dir = await migrationsDir({
      '001-esm.mjs':
        'export async function up(sql) { await sql`create table esm (id int)` }\nexport async function down(sql) { await sql`drop table esm` }',
      '002-cjs.cjs':
        'exports.up = async (sql) => { await sql`create table cjs (id int)` };\nexports.down = async (sql) => { await sql`drop table cjs` };',
      '003-typed.ts':
        "import type { Sql } from 'postgres';\nexport async function up(sql: Sql): Promise<void> { await sql`create table typed (id int)`; }\nexport async function down(sql: Sql): Promise<void> { await sql`drop table typed`; }",
      '004-plain.sql':
        "-- migrate:up\ncreate table plain (id int);\ncreate table plain2 (note text default ';');\n\n-- migrate:down\ndrop table plain2;\ndrop table plain;\n",
    });

    const up = await migrateUp({ database: db.url, migrationsDir: dir });
    expect(up.applied).toEqual(['001-esm.mjs', '002-cjs.cjs', '003-typed.ts', '004-plain.sql']);
    expect(await relations(db)).toEqual(['cjs', 'esm', 'plain', 'plain2', 'typed']);

    const down = await migrateDown({ database: db.url, migrationsDir: dir, to: '001-esm' });
    expect(down.reverted).toEqual(['004-plain.sql', '003-typed.ts', '002-cjs.cjs']);
    expect(await relations(db)).toEqual(['esm']);
  });

  it('runs a transaction = false module outside a transaction, so CREATE INDEX CONCURRENTLY works', async () => {
    const dir = await migrationsDir({
      '001-table.mjs':
        'export const up = (sql) => sql`create table t (id int)`;\nexport const down = (sql) => sql`drop table t`;',
      '002-index.mjs':
        'export const transaction = false;\nexport const up = (sql) => sql`create index concurrently if not exists t_id on t (id)`;\nexport const down = (sql) => sql`drop index concurrently if exists t_id`;',
      '003-index.sql':
        '-- migrate:up transaction:false\ncreate index concurrently t_id2 on t (id);\ncreate index concurrently t_id3 on t (id);\n-- migrate:down transaction:false\ndrop index concurrently t_id3;\ndrop index concurrently t_id2;\n',
    });

    await migrateUp({ database: db.url, migrationsDir: dir });
    expect(await relations(db)).toEqual(['t', 't_id', 't_id2', 't_id3']);

    await migrateDown({ database: db.url, migrationsDir: dir, to: '001-table' });
    expect(await relations(db)).toEqual(['t']);
  });

  it('reads transaction:false per section of a SQL file, as dbmate does', async () => {
    await db.sql`create table t (id int)`;
    await db.sql`create index t_id on t (id)`;
    const dir = await migrationsDir({
      '001-drop.sql':
        '-- migrate:up\ndrop index t_id;\n-- migrate:down transaction:false\ncreate index concurrently t_id on t (id);\n',
    });

    await migrateUp({ database: db.url, migrationsDir: dir });
    await migrateDown({ database: db.url, migrationsDir: dir });

    expect(await relations(db)).toEqual(['t', 't_id']);
  });

  it('names the INVALID index a failed CREATE INDEX CONCURRENTLY left, with the command that cleans it up', async () => {
    await db.sql`create table t (id int)`;
    await db.sql`insert into t values (1), (1)`;
    const dir = await migrationsDir({
      '001-unique.sql':
        '-- migrate:up transaction:false\ncreate unique index concurrently t_id_unique on t (id);\n-- migrate:down transaction:false\ndrop index concurrently t_id_unique;\n',
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationFailed);
    expect(failure.context.invalidIndexes).toEqual(['public.t_id_unique']);
    expect(failure.message).toContain('DROP INDEX CONCURRENTLY IF EXISTS public.t_id_unique;');
    const [history] = await db.sql`select count(*)::int as n from migration_pipeline_history`;
    expect(history?.n).toBe(0);
  });

  it('refuses a SQL file without an up section, naming it', async () => {
    const dir = await migrationsDir({ '001-empty.sql': 'create table x (id int);' });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain('001-empty.sql:1: it has no "-- migrate:up" section');
    expect(await relations(db)).toEqual([]);
  });
});

describe('splitting SQL into statements', () => {
  it('splits at top-level semicolons only', () => {
    const text = [
      'insert into t values (\'a;b\', "c;d");',
      '-- a comment; with a semicolon',
      'create function f() returns int as $body$ select 1; $body$ language sql;',
      '/* block; /* nested; */ */ select 2;',
      'select $$;$$',
    ].join('\n');

    expect(splitStatements(text)).toEqual([
      'insert into t values (\'a;b\', "c;d")',
      '-- a comment; with a semicolon\ncreate function f() returns int as $body$ select 1; $body$ language sql',
      '/* block; /* nested; */ */ select 2',
      'select $$;$$',
    ]);
  });
});
