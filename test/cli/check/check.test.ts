import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CheckReport, checkMigrations } from '../../../cli/check/check.ts';
import { DEFAULT_SEVERITIES } from '../../../cli/check/rules.ts';
import { adminUrl, createTestDatabase } from '../../support/database.ts';
import { migrationsDir, sqlModule } from '../../support/migrationsDir.ts';

/** A base table with rows, so that scans and rewrites are real. */
const BASE = {
  '001-base.mjs': sqlModule(
    "create table users (id bigint generated always as identity primary key, email text, age integer); create table orgs (id bigint primary key); insert into users (email, age) select 'u' || g, g from generate_series(1, 5000) g",
    'drop table users; drop table orgs',
  ),
};

/** Checks one migration after the base, on a fresh target database (so everything is pending). */
async function checkOne(name: string, source: string): Promise<CheckReport> {
  const target = await createTestDatabase();
  try {
    return await checkMigrations({
      databaseUrl: target.url,
      migrationsDir: await migrationsDir({ ...BASE, [name]: source }),
      since: '001-base.mjs',
    });
  } finally {
    await target.drop();
  }
}

const findings = (report: CheckReport) => report.migrations.flatMap((m) => m.findings);
const rules = (report: CheckReport) => findings(report).map((f) => f.rule);

describe('migration-pipeline check', () => {
  it('flags an index built without CONCURRENTLY on an existing table, with the SHARE lock it held', async () => {
    const report = await checkOne(
      '002-index.mjs',
      sqlModule('create index users_email on users (email)', 'drop index users_email'),
    );

    expect(report.ok).toBe(false);
    // One finding for the one problem: squawk's rule merged into the measured one.
    expect(findings(report)).toEqual([
      expect.objectContaining({
        rule: 'non-concurrent-index',
        severity: 'error',
        lock: { relation: 'public.users', mode: 'ShareLock', blocks: 'writes' },
        measured: expect.objectContaining({ rows: 5000 }),
        help: expect.stringContaining('CREATE INDEX CONCURRENTLY'),
        squawk: ['require-concurrent-index-creation'],
      }),
    ]);
  });

  it('flags a NOT NULL column without a default', async () => {
    const report = await checkOne(
      '002-required.mjs',
      sqlModule(
        'alter table users add column org_id bigint not null',
        'alter table users drop column org_id',
      ),
    );

    expect(rules(report)).toEqual(expect.arrayContaining(['adding-required-field', 'migration-failed']));
  });

  it('flags a column type change, measuring the rewrite it caused', async () => {
    const report = await checkOne(
      '002-type.mjs',
      sqlModule(
        'alter table users alter column age type bigint',
        'alter table users alter column age type integer',
      ),
    );

    expect(findings(report)).toEqual([
      expect.objectContaining({
        rule: 'column-type-rewrite',
        severity: 'error',
        message: expect.stringContaining('rewrote public.users'),
        lock: { relation: 'public.users', mode: 'AccessExclusiveLock', blocks: 'reads and writes' },
        help: expect.stringMatching(/new column/),
        squawk: ['changing-column-type'],
      }),
    ]);
    expect(findings(report)[0]?.help).not.toMatch(/CONCURRENTLY/);
  });

  it('flags a foreign key added in one step', async () => {
    const report = await checkOne(
      '002-fk.mjs',
      sqlModule(
        'alter table users add column org bigint; alter table users add constraint users_org_fk foreign key (org) references orgs (id)',
        'alter table users drop column org',
      ),
    );

    // One query holding both statements: the foreign key's validation, which scans users, names it.
    expect(findings(report)).toEqual([
      expect.objectContaining({
        rule: 'constraint-validates-rows',
        lock: expect.objectContaining({ relation: 'public.users', mode: 'AccessExclusiveLock' }),
        help: expect.stringContaining('NOT VALID'),
        squawk: expect.arrayContaining(['adding-foreign-key-constraint']),
      }),
    ]);
  });

  it('flags a lock held through the statements after it: ADD COLUMN, then its backfill in the same transaction', async () => {
    const report = await checkOne(
      '002-backfill.mjs',
      `export async function up(sql) {
  await sql\`alter table users add column score int\`;
  await sql\`update users set score = age\`;
}`,
    );
    expect(findings(report)).toEqual([
      expect.objectContaining({
        rule: 'lock-held-through-work',
        statement: 'alter table users add column score int',
        lock: expect.objectContaining({ relation: 'public.users', mode: 'AccessExclusiveLock' }),
        measured: expect.objectContaining({ rows: 10000 }),
        help: expect.stringMatching(/into a later migration, a backfill in batches/),
      }),
      expect.objectContaining({ rule: 'full-table-write', statement: 'update users set score = age' }),
    ]);
  });

  it('flags renaming a column', async () => {
    const report = await checkOne(
      '002-rename.mjs',
      sqlModule(
        'alter table users rename column email to mail',
        'alter table users rename column mail to email',
      ),
    );

    expect(findings(report)).toContainEqual(
      expect.objectContaining({
        rule: 'rename-column',
        severity: 'error',
        statement: 'alter table users rename column email to mail',
        squawk: ['renaming-column'],
      }),
    );
  });

  it('checks a TypeScript migration on the SQL it actually ran', async () => {
    const dynamic = `
import type { Sql } from 'postgres';
const columns = ['age'];
export async function up(sql: Sql): Promise<void> {
  for (const column of columns) await sql.unsafe(\`alter table users alter column \${column} type numeric\`);
}
export async function down(sql: Sql): Promise<void> {
  for (const column of columns) await sql.unsafe(\`alter table users alter column \${column} type integer\`);
}`;
    const report = await checkOne('002-dynamic.ts', dynamic);

    expect(findings(report)).toEqual([
      expect.objectContaining({
        rule: 'column-type-rewrite',
        statement: 'alter table users alter column age type numeric',
        squawk: ['changing-column-type'],
      }),
    ]);
    const statements = report.migrations[0]?.statements ?? [];
    expect(statements.filter((s) => s.byEngine).map((s) => s.sql)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^set local lock_timeout = '\d+ms'; set local statement_timeout = '\d+ms'; select /,
        ),
      ]),
    );
  });

  it('clears what squawk guesses from the text when the measurement disproves it: a type change that rewrote nothing', async () => {
    const target = await createTestDatabase();
    try {
      const report = await checkMigrations({
        databaseUrl: target.url,
        migrationsDir: await migrationsDir({
          '001-base.mjs': sqlModule(
            'create table labels (name varchar(50)); insert into labels select g::text from generate_series(1, 2000) g',
            'drop table labels',
          ),
          '002-widen.mjs': sqlModule(
            'alter table labels alter column name type varchar(100)',
            'alter table labels alter column name type varchar(50)',
          ),
        }),
        since: '001-base',
      });
      expect(findings(report)).toEqual([]);
      expect(report.migrations[0]?.cleared).toEqual([
        expect.stringMatching(
          /^squawk's changing-column-type on .*: cleared, its AccessExclusiveLock was held for an instant/,
        ),
      ]);
    } finally {
      await target.drop();
    }
  });

  it("passes the safe patterns clean, without a warning: the project's own migrations", async () => {
    const target = await createTestDatabase();
    try {
      const report = await checkMigrations({ databaseUrl: target.url, migrationsDir: resolve('migrations') });

      expect(report.migrations).toHaveLength(12);
      expect(findings(report)).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await target.drop();
    }
  });

  it('a down that fails is a finding on its migration, and the next migration is still checked', async () => {
    const target = await createTestDatabase();
    try {
      const report = await checkMigrations({
        databaseUrl: target.url,
        migrationsDir: await migrationsDir({
          ...BASE,
          '002-broken-down.mjs': sqlModule('create table notes (id int)', 'drop table no_such_table'),
          '003-next.mjs': sqlModule('create table tags (id int)', 'drop table tags'),
        }),
        since: '001-base',
      });
      expect(report.migrations.map((m) => m.name)).toEqual(['002-broken-down.mjs', '003-next.mjs']);
      expect(report.migrations[0]?.findings).toEqual([
        expect.objectContaining({ rule: 'round-trip', message: expect.stringMatching(/^down failed: /) }),
      ]);
      expect(report.migrations[1]?.findings).toEqual([]);
    } finally {
      await target.drop();
    }
  });

  it('dropping a table the migration itself made is no contract change; dropping an existing one is', async () => {
    const own = await checkOne(
      '002-staging.mjs',
      sqlModule('create table staging (id int); drop table staging', 'select 1'),
    );
    expect(findings(own)).toEqual([]);
    const existing = await checkOne(
      '002-drop.mjs',
      sqlModule('drop table orgs', 'create table orgs (id bigint primary key)'),
    );
    expect(findings(existing)).toEqual([
      expect.objectContaining({
        rule: 'drop-table',
        severity: 'error',
        help: expect.stringMatching(/later release/),
      }),
    ]);
  });

  it('lets a rule be turned off', async () => {
    const target = await createTestDatabase();
    try {
      const report = await checkMigrations({
        databaseUrl: target.url,
        migrationsDir: await migrationsDir({
          ...BASE,
          '002-rename.mjs': sqlModule(
            'alter table users rename column email to mail',
            'alter table users rename column mail to email',
          ),
        }),
        since: '001-base',
        severities: { ...DEFAULT_SEVERITIES, 'rename-column': 'off' },
      });
      expect(findings(report)).toEqual([]);
    } finally {
      await target.drop();
    }
  });

  it('only checks what is pending in the target database', async () => {
    const report = await checkMigrations({
      databaseUrl: adminUrl(),
      migrationsDir: await migrationsDir(BASE),
      since: '001-base',
    });
    expect(report.migrations).toEqual([]);
  });
});
