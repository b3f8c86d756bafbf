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
    expect(findings(report)).toContainEqual(
      expect.objectContaining({ rule: 'require-concurrent-index-creation', severity: 'error' }),
    );
    expect(findings(report)).toContainEqual(
      expect.objectContaining({
        rule: 'blocks-writes',
        lock: { relation: 'public.users', mode: 'ShareLock', blocks: 'writes' },
        help: expect.stringContaining('CREATE INDEX CONCURRENTLY'),
      }),
    );
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

    expect(rules(report)).toEqual(expect.arrayContaining(['changing-column-type', 'table-rewrite']));
    expect(findings(report)).toContainEqual(
      expect.objectContaining({ rule: 'table-rewrite', severity: 'error', message: 'rewrote public.users' }),
    );
    expect(findings(report)).toContainEqual(
      expect.objectContaining({
        rule: 'blocks-reads-and-writes',
        lock: { relation: 'public.users', mode: 'AccessExclusiveLock', blocks: 'reads and writes' },
      }),
    );
  });

  it('flags a foreign key added in one step', async () => {
    const report = await checkOne(
      '002-fk.mjs',
      sqlModule(
        'alter table users add column org bigint; alter table users add constraint users_org_fk foreign key (org) references orgs (id)',
        'alter table users drop column org',
      ),
    );

    expect(rules(report)).toContain('adding-foreign-key-constraint');
    expect(findings(report)).toContainEqual(
      expect.objectContaining({
        rule: 'blocks-writes',
        lock: expect.objectContaining({ relation: 'public.orgs', mode: 'ShareRowExclusiveLock' }),
      }),
    );
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
        rule: 'renaming-column',
        severity: 'error',
        statement: 'alter table users rename column email to mail',
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

    expect(findings(report)).toContainEqual(
      expect.objectContaining({
        rule: 'changing-column-type',
        statement: 'alter table users alter column age type numeric',
      }),
    );
    expect(findings(report)).toContainEqual(
      expect.objectContaining({
        rule: 'table-rewrite',
        statement: 'alter table users alter column age type numeric',
      }),
    );
    const statements = report.migrations[0]?.statements ?? [];
    expect(statements.filter((s) => s.byEngine).map((s) => s.sql)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^set local lock_timeout = '\d+ms'; set local statement_timeout = '\d+ms'$/),
      ]),
    );
  });

  it("passes the safe patterns clean: the project's own migrations", async () => {
    const target = await createTestDatabase();
    try {
      const report = await checkMigrations({ databaseUrl: target.url, migrationsDir: resolve('migrations') });

      expect(report.migrations).toHaveLength(12);
      expect(findings(report).filter((f) => f.severity === 'error')).toEqual([]);
      expect(report.ok).toBe(true);
    } finally {
      await target.drop();
    }
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
        severities: { ...DEFAULT_SEVERITIES, 'renaming-column': 'off' },
      });
      expect(rules(report)).not.toContain('renaming-column');
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
