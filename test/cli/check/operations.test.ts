import { describe, expect, it } from 'vitest';
import { addsJsonColumn, operationOf } from '../../../cli/check/operations.ts';

/** What a statement is, told from its SQL, whatever its quoting and layout. */
describe('operationOf', () => {
  it.each([
    ['ALTER TABLE "t" RENAME COLUMN "a" TO "b"', 'rename-column'],
    ['alter table "Orders" alter column "Status" set not null', 'set-not-null-scans'],
    ['ALTER TABLE "t" ALTER COLUMN "c" SET DATA TYPE bigint', 'column-type-rewrite'],
    [
      'ALTER TABLE "orders" ADD CONSTRAINT "orders_user_fk" FOREIGN KEY ("user_id") REFERENCES "users"("id")',
      'constraint-validates-rows',
    ],
    ['create index if not exists "users_email" on "users" ("email")', 'non-concurrent-index'],
    ['alter table t add column id2 bigserial', 'add-column-rewrite'],
    ['alter table t add constraint t_pkey primary key using index t_id', 'primary-key-sets-not-null'],
    ['alter table t add constraint t_u unique using index t_u_idx', undefined],
    ['create index concurrently t_i on t (c)', undefined],
    ['create index measurements_at on only measurements (at)', 'partitioned-index'],
    ['alter table orders add column user_id bigint references users (id)', 'add-column-with-constraint'],
    ['alter table orders add column qty int check (qty > 0)', 'add-column-with-constraint'],
    ['alter table orders add column note text', 'add-column-rewrite'],
    ['ALTER TABLE "t" ADD CONSTRAINT "fk" FOREIGN KEY ("a") REFERENCES "u"("id") NOT VALID', undefined],
  ])('%s -> %s', (sql, rule) => {
    expect(operationOf(sql)?.rule).toBe(rule);
  });

  it('a CREATE TABLE with an identity column is no column added to an existing table', () => {
    expect(
      operationOf('create table t (id bigint generated always as identity primary key)'),
    ).toBeUndefined();
  });

  it('finds a json column, not a jsonb one', () => {
    expect(addsJsonColumn('alter table t add column "payload" json')).toBe(true);
    expect(addsJsonColumn('alter table t add column payload jsonb')).toBe(false);
  });
});
