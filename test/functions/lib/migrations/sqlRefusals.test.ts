import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateDown, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

const GOOD = '-- migrate:up\ncreate table good (id int);\n-- migrate:down\ndrop table good;\n';

/** A pg_dump of one table with data, as a migration: its preamble, a COPY and its data rows. */
const DUMP = [
  '-- migrate:up',
  "SET client_encoding = 'UTF8';",
  'SET standard_conforming_strings = on;',
  "SELECT pg_catalog.set_config('search_path', '', false);",
  'CREATE TABLE public.t (a integer, b text);',
  'COPY public.t (a, b) FROM stdin;',
  "1\tit's; here",
  '2\t\\N',
  '\\.',
  '',
  'CREATE TABLE public.after_copy (id integer);',
  '',
].join('\n');

describe('SQL a migration cannot run is refused before anything runs, naming its line', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const relations = async () =>
    db.sql`select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'public' order by 1`;
  const tables = async () =>
    (
      await db.sql<{ name: string }[]>`
        select tablename as name from pg_tables
        where schemaname = 'public' and tablename not like 'migration_pipeline%' order by 1`
    ).map((row) => row.name);

  /** `001-good.sql` then `002-x.sql`: the run must fail MigrationInvalid with `message`, nothing applied. */
  async function expectRefused(source: string, message: string) {
    const dir = await migrationsDir({ '001-good.sql': GOOD, '002-x.sql': source });
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name, failure.stack).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain(message);
    expect(await relations()).toEqual([]);
    return failure;
  }

  /** `001-good.sql` then `002-x.sql`, applied: the tables of public afterwards. */
  async function applied(source: string) {
    const dir = await migrationsDir({ '001-good.sql': GOOD, '002-x.sql': source });
    await migrateUp({ database: db.url, migrationsDir: dir });
    return tables();
  }

  it('refuses COPY … FROM STDIN (pg_dump data) and COPY … TO STDOUT instead of hanging', async () => {
    await expectRefused(DUMP, '002-x.sql:6: COPY … FROM STDIN cannot run in a migration');
    await expectRefused(
      '-- migrate:up transaction:false\ncreate table c (id int);\ncopy (select 1) to stdout;\n',
      '002-x.sql:3: COPY … TO STDOUT cannot run in a migration',
    );
  }, 20_000);

  it('refuses psql meta-commands, pg_dump 15.18’s \\restrict among them', async () => {
    for (const [line, command] of [
      ['\\restrict AbC123', '\\restrict'],
      ['\\set ON_ERROR_STOP on', '\\set'],
      ['\\connect other', '\\connect'],
      ['\\unrestrict AbC123', '\\unrestrict'],
    ]) {
      await expectRefused(
        `-- migrate:up\n${line}\ncreate table m (id int);\n`,
        `002-x.sql:2: psql meta-command ${command} is not SQL; remove it`,
      );
    }
    // Not inside quotes or comments.
    expect(
      await applied("-- migrate:up\n-- \\set in a comment\ncreate table m (note text default E'a\\\\b');\n"),
    ).toContain('m');
  });

  it('refuses a quote, dollar quote or block comment that never ends, at the line it opens', async () => {
    await expectRefused(
      "-- migrate:up\ncreate table u (id int);\ninsert into u values ('oops);\n",
      '002-x.sql:3: a quoted string opened here never ends',
    );
    await expectRefused('-- migrate:up\n\ncreate table "u (id int);\n', '002-x.sql:3: a quoted identifier');
    await expectRefused(
      '-- migrate:up\ncreate function f() returns int language sql as $body$ select 1;\n',
      '002-x.sql:2: the dollar quote $body$ opened here is never closed',
    );
    await expectRefused(
      '-- migrate:up\ncreate table u (id int);\n/* unfinished /* nested */\ncreate table v (id int);\n',
      '002-x.sql:3: a block comment (/*) opened here never ends',
    );
  });

  it('splits at semicolons outside parentheses only, as psql does (pg_dump multi-action rules)', async () => {
    const names = await applied(
      [
        '-- migrate:up',
        'create table t (id int); create table log1 (id int); create table log2 (id int);',
        'CREATE RULE r AS ON INSERT TO t DO ALSO (',
        '  INSERT INTO log1 VALUES (new.id);',
        '  INSERT INTO log2 VALUES (new.id);',
        ');',
        'create table after_rule (id int);',
      ].join('\n'),
    );
    expect(names).toContain('after_rule');
    await db.sql`insert into t values (7)`;
    expect(
      await db.sql`select (select count(*)::int from log1) as one, (select count(*)::int from log2) as two`,
    ).toEqual([{ one: 1, two: 1 }]);
  });

  it('does not take BEGIN as a parameter name for a BEGIN ATOMIC block', async () => {
    const routine = 'create function starts(begin date) returns date language sql as $$ select begin $$;';
    // Swallowed into the function's statement, the COMMIT would go unseen…
    await expectRefused(`-- migrate:up\n${routine}\ncommit;\n`, '002-x.sql:3: COMMIT inside a section');
    // …and CREATE INDEX CONCURRENTLY would run in the implicit transaction of a multi-statement query.
    const names = await applied(
      [
        '-- migrate:up transaction:false',
        routine,
        'create table dated (day date);',
        'create index concurrently dated_day on dated (day);',
      ].join('\n'),
    );
    expect(names).toContain('dated');
    expect(await db.sql`select starts('2024-01-02')::text as day`).toEqual([{ day: '2024-01-02' }]);
  });

  it('finds transaction control hidden by comments, and keeps ROLLBACK … TO SAVEPOINT', async () => {
    for (const [statement, command] of [
      ['COMMIT/* x */AND CHAIN', 'COMMIT'],
      ['begin/**/transaction', 'BEGIN'],
      ['COMMIT AND CHAIN', 'COMMIT'],
      ['END TRANSACTION', 'END'],
      ['ABORT WORK', 'ABORT'],
      ['START TRANSACTION', 'START TRANSACTION'],
      ['BEGIN WORK', 'BEGIN'],
    ]) {
      await expectRefused(
        `-- migrate:up\ncreate table a (id int);\n${statement};\n`,
        `002-x.sql:3: ${command} inside a section that runs in the engine's transaction`,
      );
    }
    // The line is the statement's, not that of the comment above it.
    await expectRefused(
      '-- migrate:up\ncreate table a (id int);\n-- we are done here\n/* really */\ncommit;\n',
      '002-x.sql:5: COMMIT',
    );
    const names = await applied(
      [
        '-- migrate:up',
        'create table kept (id int);',
        'savepoint s;',
        'create table undone1 (id int);',
        'rollback work to savepoint s;',
        'create table undone2 (id int);',
        'ROLLBACK TRANSACTION TO SAVEPOINT s;',
      ].join('\n'),
    );
    expect(names).toEqual(['good', 'kept']);
  });

  it('refuses a transactional section changing the engine’s lock or statement timeout; keeps the rest of a pg_dump preamble', async () => {
    for (const [statement, setting] of [
      ['SET lock_timeout = 0', 'lock_timeout'],
      ['SET statement_timeout = 0', 'statement_timeout'],
      ["set local lock_timeout = '10min'", 'lock_timeout'],
      ['SET SESSION statement_timeout TO 0', 'statement_timeout'],
      ["SELECT pg_catalog.set_config('lock_timeout', '0', false)", 'lock_timeout'],
    ]) {
      await expectRefused(
        `-- migrate:up\ncreate table a (id int);\n${statement};\n`,
        `002-x.sql:3: it changes ${setting}: the engine sets it`,
      );
    }
    const preamble = [
      'SET idle_in_transaction_session_timeout = 0;',
      "SET client_encoding = 'UTF8';",
      'SET standard_conforming_strings = on;',
      "SELECT pg_catalog.set_config('search_path', '', false);",
      'SET check_function_bodies = false;',
      'SET xmloption = content;',
      'SET client_min_messages = warning;',
      'SET row_security = off;',
      'SET default_table_access_method = heap;',
    ].join('\n');
    expect(
      await applied(
        `-- migrate:up\n${preamble}\ncreate table public.dumped (id int);\n` +
          // A section outside the engine's transaction has no engine timeouts to lose.
          '-- migrate:down transaction:false\nset lock_timeout = 0;\ndrop table public.dumped;\n',
      ),
    ).toContain('dumped');
  });

  it('accepts a byte-order mark and a nested block comment before the up marker', async () => {
    expect(await applied('\uFEFF-- migrate:up\ncreate table bom (id int);\n')).toContain('bom');
    await db.drop();
    db = await createTestDatabase();
    expect(
      await applied(
        '/* header /* nested */ still the header */\n-- migrate:up\ncreate table nested (id int);\n',
      ),
    ).toContain('nested');
  });

  it('reads transaction:false per section: a down does not inherit it from its up', async () => {
    const dir = await migrationsDir({
      '001-x.sql':
        '-- migrate:up transaction:false\ncreate table kept (id int);\n-- migrate:down\ndrop table kept;\nselect 1/0;\n',
    });
    await migrateUp({ database: db.url, migrationsDir: dir });
    const failure = await migrateDown({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.RollbackFailed);
    // The down ran in a transaction: its DROP rolled back with the failure.
    expect(await db.sql`select to_regclass('kept') is not null as present`).toEqual([{ present: true }]);
  });
});
