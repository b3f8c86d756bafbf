import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCK_MODES,
  type LockMode,
  lockTargetsOf,
  lockTargetsOfStatements,
} from '../../../../functions/lib/migrations/lockTargets.ts';
import { scanStatements } from '../../../../functions/lib/migrations/sqlStatements.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';

const SETUP = `
  create schema app;
  create table accounts (id int primary key, email text, balance int);
  create table "Orders" (id int primary key, account_id int);
  create table app.events (id int primary key, at timestamptz);
  create index accounts_email on accounts (email);
  create table measurements (id int, at date) partition by range (at);
  create table measurements_2026 (id int, at date);
  create materialized view balances as select id, balance from accounts;
  create unique index balances_id on balances (id);
  alter table accounts add constraint balance_positive check (balance >= 0) not valid;
  create function touch() returns trigger language plpgsql as $$ begin return new; end $$;
  create trigger accounts_touch before update on accounts for each row execute function touch();
`;

/**
 * Each statement with the locks it takes on tables that existed before it, as PostgreSQL's
 * "Explicit Locking" and each command's page document them; the test runs it and reads pg_locks.
 */
const CASES: { sql: string; expected: Record<string, LockMode>; conservative?: boolean }[] = [
  { sql: 'alter table accounts add column note text', expected: { accounts: 'AccessExclusiveLock' } },
  {
    sql: 'ALTER TABLE IF EXISTS ONLY accounts DROP COLUMN email',
    expected: { accounts: 'AccessExclusiveLock' },
  },
  { sql: 'alter table "Orders" rename to orders_old', expected: { '"Orders"': 'AccessExclusiveLock' } },
  {
    sql: 'alter table app.events alter column at set not null',
    expected: { 'app.events': 'AccessExclusiveLock' },
  },
  {
    sql: 'alter table accounts validate constraint balance_positive',
    expected: { accounts: 'ShareUpdateExclusiveLock' },
  },
  {
    sql: 'alter table accounts alter column email set statistics 500',
    expected: { accounts: 'ShareUpdateExclusiveLock' },
  },
  { sql: 'alter table accounts set (fillfactor = 70)', expected: { accounts: 'ShareUpdateExclusiveLock' } },
  {
    sql: 'alter table accounts cluster on accounts_email',
    expected: { accounts: 'ShareUpdateExclusiveLock' },
  },
  {
    sql: 'alter table "Orders" add constraint orders_account foreign key (account_id) references accounts (id) not valid',
    expected: { '"Orders"': 'ShareRowExclusiveLock', accounts: 'ShareRowExclusiveLock' },
  },
  {
    sql: 'alter table "Orders" add column owner int references accounts (id)',
    expected: { '"Orders"': 'AccessExclusiveLock', accounts: 'ShareRowExclusiveLock' },
  },
  {
    sql: `alter table measurements attach partition measurements_2026 for values from ('2026-01-01') to ('2027-01-01')`,
    expected: { measurements: 'ShareUpdateExclusiveLock', measurements_2026: 'AccessExclusiveLock' },
  },
  {
    sql: 'alter table accounts add column flag bool, validate constraint balance_positive',
    expected: { accounts: 'AccessExclusiveLock' },
  },
  { sql: 'create index on accounts (balance)', expected: { accounts: 'ShareLock' } },
  {
    sql: 'create unique index if not exists accounts_email_unique on only accounts using btree (lower(email))',
    expected: { accounts: 'ShareLock' },
  },
  { sql: 'create index events_at on app.events (at)', expected: { 'app.events': 'ShareLock' } },
  { sql: 'drop index accounts_email', expected: { accounts_email: 'AccessExclusiveLock' } },
  {
    sql: 'drop table if exists "Orders", app.events cascade',
    expected: { '"Orders"': 'AccessExclusiveLock', 'app.events': 'AccessExclusiveLock' },
  },
  {
    sql: 'truncate table only accounts, "Orders"',
    expected: { accounts: 'AccessExclusiveLock', '"Orders"': 'AccessExclusiveLock' },
  },
  { sql: 'lock table accounts in share row exclusive mode', expected: { accounts: 'ShareRowExclusiveLock' } },
  { sql: 'LOCK accounts', expected: { accounts: 'AccessExclusiveLock' } },
  {
    sql: 'lock table accounts, "Orders" in exclusive mode nowait',
    expected: { accounts: 'ExclusiveLock', '"Orders"': 'ExclusiveLock' },
  },
  {
    sql: 'create trigger orders_touch before insert on "Orders" for each row execute function touch()',
    expected: { '"Orders"': 'ShareRowExclusiveLock' },
  },
  { sql: 'drop trigger accounts_touch on accounts', expected: { accounts: 'AccessExclusiveLock' } },
  {
    sql: 'create table payments (id int primary key, account_id int not null references accounts (id))',
    expected: { accounts: 'ShareRowExclusiveLock' },
  },
  {
    sql: `create table measurements_2027 partition of measurements for values from ('2027-01-01') to ('2028-01-01')`,
    expected: { measurements: 'AccessExclusiveLock' },
  },
  { sql: 'refresh materialized view balances', expected: { balances: 'AccessExclusiveLock' } },
  { sql: 'update accounts set balance = 0 where id = 1', expected: { accounts: 'RowExclusiveLock' } },
  { sql: 'delete from "Orders" where id = 1', expected: { '"Orders"': 'RowExclusiveLock' } },
  { sql: 'insert into app.events (id) values (1)', expected: { 'app.events': 'RowExclusiveLock' } },
  { sql: 'cluster accounts using accounts_pkey', expected: { accounts: 'AccessExclusiveLock' } },
  { sql: 'reindex table accounts', expected: { accounts: 'ShareLock' } },
  // PostgreSQL 12+ renames an index under SHARE UPDATE EXCLUSIVE; waiting as for more costs nothing.
  {
    sql: 'alter index accounts_email rename to accounts_email_idx',
    expected: { accounts_email: 'AccessExclusiveLock' },
    conservative: true,
  },
];

describe('the table locks a statement asks for', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.sql.unsafe(SETUP);
  });
  afterAll(async () => {
    await db.drop();
  });

  it.each(CASES)('$sql', async ({ sql, expected, conservative }) => {
    const predicted = Object.fromEntries(lockTargetsOf(sql).map((target) => [target.relation, target.mode]));
    expect(predicted).toEqual(expected);

    // The server's own answer: the strongest lock it takes on each of those relations, found by
    // oid (a rename or a drop leaves no name to find them by), then rolled back.
    const taken = await db.sql
      .begin(async (tx) => {
        const oids = await tx.unsafe<{ relation: string; oid: number }[]>(
          'select t.relation, to_regclass(t.relation)::oid as oid from unnest($1::text[]) as t(relation)',
          [Object.keys(expected)],
        );
        await tx.unsafe(sql);
        const rows = await tx.unsafe<{ relation: string; mode: LockMode }[]>(
          `select t.relation, l.mode from unnest($1::text[], $2::oid[]) as t(relation, oid)
           join pg_locks l on l.locktype = 'relation' and l.pid = pg_backend_pid() and l.relation = t.oid`,
          [oids.map((row) => row.relation), oids.map((row) => row.oid)],
        );
        throw Object.assign(new Error('rollback'), { rows });
      })
      .catch((error: { rows?: { relation: string; mode: LockMode }[] }) => {
        if (!error.rows) throw error;
        return error.rows;
      });
    for (const [relation, mode] of Object.entries(expected)) {
      const strongest = taken
        .filter((row) => row.relation === relation)
        .map((row) => LOCK_MODES.indexOf(row.mode))
        .reduce((a, b) => Math.max(a, b), -1);
      if (conservative) expect(strongest).toBeLessThanOrEqual(LOCK_MODES.indexOf(mode));
      else expect(LOCK_MODES[strongest], `${relation} in: ${sql}`).toBe(mode);
    }
  });

  it('is nothing for what its words cannot tell: a DO block, a function call, a new table alone', () => {
    expect(lockTargetsOf("do $$ begin execute 'alter table accounts add column x int'; end $$")).toEqual([]);
    expect(lockTargetsOf('select backfill_accounts()')).toEqual([]);
    expect(lockTargetsOf('create table fresh (id int primary key)')).toEqual([]);
    expect(lockTargetsOf('alter table')).toEqual([]);
    expect(lockTargetsOf("alter table 'unterminated")).toEqual([]);
  });

  it('reads through comments, string literals and quoted names without being fooled', () => {
    expect(
      lockTargetsOf(`/* alter table decoy add x int */ alter table -- comment
        "My ""Table""" add column note text default 'drop table other'`),
    ).toEqual([{ relation: '"My ""Table"""', mode: 'AccessExclusiveLock' }]);
  });

  it('keeps the strongest mode per table over several statements', () => {
    expect(
      lockTargetsOf(
        'create index on accounts (email); update accounts set email = lower(email); alter table accounts validate constraint c',
      ),
    ).toEqual([{ relation: 'accounts', mode: 'ShareLock' }]);
    expect(
      lockTargetsOfStatements([
        ...scanStatements('update accounts set balance = 0; alter table accounts add column x int'),
      ]),
    ).toEqual([{ relation: 'accounts', mode: 'AccessExclusiveLock' }]);
  });
});
