import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrationLockKey } from '../../../../functions/lib/migrations/advisoryLock.ts';
import { migrateDown, migrateUp, resolveSettings } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

const module = (body: string, extra = '') => `${extra}\nexport async function up(sql) {\n${body}\n}\n`;

describe('a migration cannot escape its transaction or poison the next one', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const history = async () =>
    (await db.sql<{ name: string }[]>`select name from migration_pipeline_history order by id`).map(
      (row) => row.name,
    );
  const tables = async () =>
    (
      await db.sql<{ name: string }[]>`
        select format('%I.%I', schemaname, tablename) as name from pg_tables
        where schemaname not in ('pg_catalog', 'information_schema') and tablename not like 'migration_pipeline%'
        order by 1`
    ).map((row) => row.name);

  it('refuses transaction control in a transactional SQL section before running anything', async () => {
    for (const [statement, command] of [
      ['commit', 'COMMIT'],
      ['COMMIT WORK', 'COMMIT'],
      ['begin', 'BEGIN'],
      ['start transaction isolation level serializable', 'START TRANSACTION'],
      ['/* done */ rollback', 'ROLLBACK'],
      ['end', 'END'],
    ]) {
      const dir = await migrationsDir({
        '001-a.sql': `-- migrate:up\ncreate table a (id int);\n\n${statement};\ncreate table b (id int);\n`,
      });
      const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
      expect(failure.name).toBe(ErrorName.MigrationInvalid);
      expect(failure.message).toContain(
        `001-a.sql:4: ${command} inside a section that runs in the engine's transaction`,
      );
    }
    expect(await tables()).toEqual([]);
    expect(await db.sql`select to_regclass('migration_pipeline_history') as t`).toEqual([{ t: null }]);
  });

  it('lets a transaction:false section manage its own transaction, and keeps savepoints inside one', async () => {
    const dir = await migrationsDir({
      '001-own.sql': '-- migrate:up transaction:false\nbegin;\ncreate table own (id int);\ncommit;\n',
      '002-savepoint.sql':
        '-- migrate:up\ncreate table kept (id int);\nsavepoint s;\ncreate table undone (id int);\nrollback to savepoint s;\n',
    });
    await migrateUp({ database: db.url, migrationsDir: dir });
    expect(await tables()).toEqual(['public.kept', 'public.own']);
    expect(await history()).toEqual(['001-own.sql', '002-savepoint.sql']);
  });

  it('does not record a module that committed or rolled back the engine’s transaction itself', async () => {
    const committed = await migrationsDir({
      '001-commits.mjs': module(
        "await sql.unsafe('create table early (id int)');\nawait sql.unsafe('commit');",
      ),
    });
    const failure = await migrateUp({ database: db.url, migrationsDir: committed }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.MigrationFailed);
    expect(failure.message).toContain("001-commits.mjs (up) ended the engine's transaction itself");
    expect(await history()).toEqual([]);

    const rolledBack = await migrationsDir({
      '001-rolls-back.mjs': module(
        "await sql.unsafe('create table gone (id int)');\nawait sql.unsafe('rollback');\nawait sql.unsafe('begin');",
      ),
    });
    const second = await migrateUp({ database: db.url, migrationsDir: rolledBack }).catch((error) => error);
    expect(second.name).toBe(ErrorName.MigrationFailed);
    expect(await history()).toEqual([]);
    expect(await tables()).toEqual(['public.early']);
  });

  it('rolls back and does not record a transaction = false module that left a transaction open', async () => {
    const dir = await migrationsDir({
      '001-open.mjs': module(
        "await sql.unsafe('begin');\nawait sql.unsafe('create table left_open (id int)');",
        'export const transaction = false;',
      ),
      '002-next.sql': '-- migrate:up\ncreate table next (id int);\n',
    });
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.MigrationFailed);
    expect(failure.message).toContain('left a transaction open');
    expect(await tables()).toEqual([]);
    expect(await history()).toEqual([]);
  });

  it('starts each migration from the same session: search_path and role do not carry over', async () => {
    const role = `r_${randomBytes(4).toString('hex')}`;
    await db.sql.unsafe(`create role ${role} nologin`);
    try {
      const dir = await migrationsDir({
        // pg_dump's preamble: the history row must still find its table.
        '001-dump.sql':
          "-- migrate:up\nselect pg_catalog.set_config('search_path', '', false);\ncreate table public.dumped (id int);\n",
        '002-plain.sql': '-- migrate:up\ncreate table plain (id int);\n',
        '003-role.mjs': module(`await sql.unsafe('set role ${role}');`),
        '004-owned.sql': '-- migrate:up\ncreate table owned (id int);\n',
      });
      await migrateUp({ database: db.url, migrationsDir: dir });
      expect(await tables()).toEqual(['public.dumped', 'public.owned', 'public.plain']);
      const [owner] = await db.sql`select tableowner from pg_tables where tablename = 'owned'`;
      expect(owner?.tableowner).not.toBe(role);
      expect(await history()).toEqual(['001-dump.sql', '002-plain.sql', '003-role.mjs', '004-owned.sql']);
    } finally {
      await db.sql.unsafe(`drop role if exists ${role}`);
    }
  });

  it('stops with MigrationLockLost when a migration released the run’s lock, recording nothing of it', async () => {
    const dir = await migrationsDir({
      '001-unlocks.mjs': module(
        "await sql.unsafe('create table sneaky (id int)');\nawait sql`select pg_advisory_unlock_all()`;",
      ),
      '002-after.sql': '-- migrate:up\ncreate table after (id int);\n',
    });
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.MigrationLockLost);
    expect(failure.message).toContain('001-unlocks.mjs');
    expect(await tables()).toEqual([]);
    expect(await history()).toEqual([]);
  });

  it('treats a history table spelled with or without its schema, or past 63 bytes, as one table and one lock', async () => {
    const dir = await migrationsDir({ '001-a.sql': '-- migrate:up\ncreate table a (id int);\n' });
    await migrateUp({ database: db.url, migrationsDir: dir });
    const qualified = resolveSettings({
      historyTable: 'public.migration_pipeline_history',
      lockWaitMs: '200ms',
    });
    expect((await migrateUp({ database: db.url, migrationsDir: dir, settings: qualified })).applied).toEqual(
      [],
    );

    const holder = postgres(db.url, { max: 1 });
    try {
      await holder`select pg_advisory_lock(${migrationLockKey('migration_pipeline_history').toString()}::bigint)`;
      const busy = await migrateUp({ database: db.url, migrationsDir: dir, settings: qualified }).catch(
        (e) => e,
      );
      expect(busy.name).toBe(ErrorName.MigrationLockBusy);
    } finally {
      await holder.end();
    }

    const long = `h${'x'.repeat(70)}`;
    const other = await migrationsDir({ '001-b.sql': '-- migrate:up\ncreate table b (id int);\n' });
    await migrateUp({
      database: db.url,
      migrationsDir: other,
      settings: resolveSettings({ historyTable: long }),
    });
    const again = await migrateUp({
      database: db.url,
      migrationsDir: other,
      settings: resolveSettings({ historyTable: long.slice(0, 63) }),
    });
    expect(again.applied).toEqual([]);
  });

  it('refuses a history table of another shape, changing nothing', async () => {
    await db.sql`create table migration_pipeline_history (id serial primary key, name int, checksum text)`;
    const dir = await migrationsDir({ '001-a.sql': '-- migrate:up\ncreate table a (id int);\n' });
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.ConfigurationInvalid);
    expect(failure.message).toContain('name is integer, not text');
    expect(await tables()).toEqual([]);
  });
});

describe('SQL files as dbmate writes them', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  it('runs BEGIN ATOMIC bodies, E-strings with escaped quotes, and a second section; an empty down is a no-op', async () => {
    const [{ version } = { version: 0 }] = await db.sql<{ version: number }[]>`
      select current_setting('server_version_num')::int as version`;
    const atomic =
      version >= 140000
        ? 'create function add_one(i int) returns int language sql\nbegin atomic\n  select case when i is null then 0 else i + 1 end;\nend;\n'
        : '';
    const dir = await migrationsDir({
      '001-dbmate.sql': [
        '-- migrate:up',
        'create table notes (body text);',
        "insert into notes values (E'it\\'s; fine'), ('plain; too');",
        '-- migrate:down',
        '-- migrate:up (a second section, as in dbmate 2.29 and later)',
        atomic,
        '-- migrate:down',
        '',
      ].join('\n'),
    });

    await migrateUp({ database: db.url, migrationsDir: dir });
    expect(await db.sql`select body from notes order by body`).toEqual([
      { body: "it's; fine" },
      { body: 'plain; too' },
    ]);
    if (atomic) expect(await db.sql`select add_one(1) as two`).toEqual([{ two: 2 }]);

    const reverted = await migrateDown({ database: db.url, migrationsDir: dir });
    expect(reverted.reverted).toEqual(['001-dbmate.sql']);
    expect(await db.sql`select to_regclass('notes') is not null as kept`).toEqual([{ kept: true }]);
  });
});
