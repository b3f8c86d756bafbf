import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { migrateDown, migrateUp } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

const lines = (...text: string[]) => `${text.join('\n')}\n`;

describe('SQL files with several dbmate sections (each "-- migrate:up" starts one)', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const relations = async () =>
    (
      await db.sql<{ name: string }[]>`
        select relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and relkind in ('r', 'i') and relname not like 'migration_pipeline_history%'
        order by 1`
    ).map((row) => row.name);
  const columns = async (table: string) =>
    (
      await db.sql<{ name: string }[]>`
        select column_name as name from information_schema.columns
        where table_schema = 'public' and table_name = ${table} order by ordinal_position`
    ).map((row) => row.name);
  const applied = async () =>
    (await db.sql<{ name: string }[]>`select name from migration_pipeline_history order by name`).map(
      (row) => row.name,
    );

  it('applies every section in one transaction: a failure in the second leaves nothing of the first', async () => {
    const good = await migrationsDir({
      '001-two.sql': lines(
        '-- migrate:up',
        'create table accounts (id int);',
        '-- migrate:down',
        'drop table accounts;',
        '-- migrate:up',
        'create table invoices (id int);',
        '-- migrate:down',
        'drop table invoices;',
      ),
    });
    await migrateUp({ database: db.url, migrationsDir: good });
    expect(await relations()).toEqual(['accounts', 'invoices']);
    await migrateDown({ database: db.url, migrationsDir: good });
    expect(await relations()).toEqual([]);

    const failing = await migrationsDir({
      '001-two.sql': lines(
        '-- migrate:up',
        'create table accounts (id int);',
        '-- migrate:down',
        'drop table accounts;',
        '-- migrate:up',
        'insert into missing values (1);',
        '-- migrate:down',
        '',
      ),
    });
    const failure = await migrateUp({ database: db.url, migrationsDir: failing }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationFailed);
    expect(failure.message).toContain('Nothing of it was applied');
    expect(await relations()).toEqual([]);
    expect(await applied()).toEqual([]);
  });

  it('runs a transaction:false section outside a transaction after a transactional one, and reverts both', async () => {
    const dir = await migrationsDir({
      '001-mixed.sql': lines(
        '-- migrate:up',
        'create table orders (id int, placed_at timestamptz);',
        'insert into orders values (1, now());',
        '-- migrate:down',
        'drop table orders;',
        '',
        '-- migrate:up transaction:false',
        'create index concurrently orders_placed_at on orders (placed_at);',
        '-- migrate:down transaction:false',
        'drop index concurrently orders_placed_at;',
      ),
    });

    await migrateUp({ database: db.url, migrationsDir: dir });
    expect(await relations()).toEqual(['orders', 'orders_placed_at']);
    expect(await applied()).toEqual(['001-mixed.sql']);

    await migrateDown({ database: db.url, migrationsDir: dir });
    expect(await relations()).toEqual([]);
    expect(await applied()).toEqual([]);
  });

  it('keeps a transactional section of a mixed file all-or-nothing; the sections before it stay', async () => {
    const dir = await migrationsDir({
      '001-mixed.sql': lines(
        '-- migrate:up transaction:false',
        'create table orders (id int);',
        '-- migrate:down transaction:false',
        'drop table orders;',
        '-- migrate:up',
        'create table refunds (id int);',
        'insert into missing values (1);',
        '-- migrate:down',
        'drop table refunds;',
      ),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationFailed);
    expect(failure.message).toContain('relation "missing" does not exist');
    // dbmate would leave the same: the first section ran outside a transaction.
    expect(await relations()).toEqual(['orders']);
    expect(await applied()).toEqual([]);
  });

  it("reverts the sections' downs in reverse order: each undoes its own section's up", async () => {
    const dir = await migrationsDir({
      '001-customers.sql': lines(
        '-- migrate:up',
        'create table customers (id int);',
        '-- migrate:down',
        'drop table customers;',
        '-- migrate:up',
        'alter table customers add column email text;',
        '-- migrate:down',
        // In file order this would run after the table is gone, and fail.
        'alter table customers drop column email;',
      ),
    });
    await migrateUp({ database: db.url, migrationsDir: dir });
    expect(await columns('customers')).toEqual(['id', 'email']);

    const reverted = await migrateDown({ database: db.url, migrationsDir: dir });

    expect(reverted.reverted).toEqual(['001-customers.sql']);
    expect(await relations()).toEqual([]);
    expect(await applied()).toEqual([]);
  });

  it('treats empty downs as deliberate no-ops and a file without any down as forward-only', async () => {
    const dir = await migrationsDir({
      '001-forward.sql': lines(
        '-- migrate:up',
        'create table one_way (id int);',
        '-- migrate:up',
        'create table one_way_too (id int);',
      ),
      '002-noop.sql': lines(
        '-- migrate:up',
        'create table kept (id int);',
        '-- migrate:down',
        '-- migrate:up',
        'create table kept_too (id int);',
        '-- migrate:down',
      ),
    });
    await migrateUp({ database: db.url, migrationsDir: dir });
    expect(await relations()).toEqual(['kept', 'kept_too', 'one_way', 'one_way_too']);

    const reverted = await migrateDown({ database: db.url, migrationsDir: dir, to: '001-forward' });
    expect(reverted.reverted).toEqual(['002-noop.sql']);
    const refusal = await migrateDown({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(refusal.name).toBe(ErrorName.MigrationsIrreversible);
    expect(refusal.message).toContain('001-forward.sql has no down (forward-only)');
    expect(await relations()).toEqual(['kept', 'kept_too', 'one_way', 'one_way_too']);
    expect(await applied()).toEqual(['001-forward.sql']);
  });

  it('refuses a second "-- migrate:down" in one section, naming its line, before anything runs', async () => {
    const dir = await migrationsDir({
      '001-good.sql': lines(
        '-- migrate:up',
        'create table good (id int);',
        '-- migrate:down',
        'drop table good;',
      ),
      '002-twice.sql': lines(
        '-- migrate:up',
        'create table twice (id int);',
        '-- migrate:down',
        'drop table twice;',
        '-- migrate:down',
        'select 1;',
      ),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain(
      '002-twice.sql:5: a second "-- migrate:down" in the section that starts at line 1',
    );
    expect(await relations()).toEqual([]);
  });

  it('refuses sections with a down next to sections without one, naming the line of the one without', async () => {
    const dir = await migrationsDir({
      '001-half.sql': lines(
        '-- migrate:up',
        'create table first_half (id int);',
        '-- migrate:down',
        'drop table first_half;',
        '',
        '-- migrate:up',
        'create table second_half (id int);',
      ),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain(
      '001-half.sql:6: this section has no "-- migrate:down" while others have one',
    );
    expect(failure.message).toContain('Give every section a "-- migrate:down"');
    expect(await relations()).toEqual([]);
  });

  it('refuses transaction control in a transactional section of a mixed file, naming its line', async () => {
    const dir = await migrationsDir({
      '001-mixed.sql': lines(
        '-- migrate:up transaction:false',
        'create table a (id int);',
        '-- migrate:up',
        'create table b (id int);',
        'commit;',
      ),
    });

    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((e) => e);

    expect(failure.name).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain('001-mixed.sql:5: COMMIT inside a section');
    expect(await relations()).toEqual([]);
  });
});
