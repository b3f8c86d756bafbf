import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scaffoldMigration } from '../../../cli/migrations/scaffold.ts';
import { verifyMigrations } from '../../../cli/migrations/verify.ts';
import { ErrorName } from '../../../functions/lib/errors.ts';
import { runCliProcess } from '../../support/cli.ts';
import { adminUrl, createTestDatabase } from '../../support/database.ts';
import { migrationsDir, sqlModule } from '../../support/migrationsDir.ts';

describe('migrate new', () => {
  it('numbers the new file after the newest one, padded like the others', async () => {
    const dir = await migrationsDir({ '011-x.ts': '', '012-y.sql': '', 'package.json': '{"type":"module"}' });

    const created = await scaffoldMigration({ migrationsDir: dir, description: 'add vendors table' });

    expect(created.name).toBe('013-add-vendors-table.ts');
    const source = await readFile(created.path, 'utf8');
    expect(source).toContain('export async function up(sql: Sql): Promise<void>');
    expect(source).toContain('export async function down(sql: Sql): Promise<void>');
  });

  it('starts at 001 in an empty folder and writes dbmate-style SQL when asked', async () => {
    const dir = await migrationsDir({});

    const created = await scaffoldMigration({
      migrationsDir: dir,
      description: 'Create Users!',
      format: 'sql',
    });

    expect(created.name).toBe('001-create-users.sql');
    expect(await readFile(created.path, 'utf8')).toMatch(/-- migrate:up\n[\s\S]*-- migrate:down\n/);
  });

  it('uses a UTC timestamp when the folder is numbered by timestamps', async () => {
    const dir = await migrationsDir({ '20240101120000-init.mjs': '' });

    const created = await scaffoldMigration({
      migrationsDir: dir,
      description: 'next',
      format: 'mjs',
      now: new Date('2026-11-24T10:11:12Z'),
    });

    expect(created.name).toBe('20261124101112-next.mjs');
  });

  it('writes .mts where the package is not an ES module package, and the CLI applies it as written', async () => {
    const app = await migrationsDir({ 'package.json': '{"name":"app","type":"commonjs"}' });
    const dir = join(app, 'migrations');
    const created = await runCliProcess(['migrate', 'new', 'add vendors'], { variables: {}, cwd: app });
    expect(created.stdout).toBe('Created migrations/001-add-vendors.mts\n');
    const path = join(dir, '001-add-vendors.mts');
    const source = await readFile(path, 'utf8');
    await writeFile(
      path,
      source
        .replace('await sql``;', 'await sql`create table vendors (id int)`;')
        .replace('await sql``;', 'await sql`drop table vendors`;'),
    );
    const db = await createTestDatabase();
    try {
      const up = await runCliProcess(['migrate', 'up'], { variables: { DATABASE_URL: db.url }, cwd: app });
      expect(up.code, up.stderr).toBe(0);
      const [table] = await db.sql`select to_regclass('vendors')::text as name`;
      expect(table?.name).toBe('vendors');
    } finally {
      await db.drop();
    }
  });

  it('refuses an empty description', async () => {
    const dir = await migrationsDir({});
    const failure = await scaffoldMigration({ migrationsDir: dir, description: ' !! ' }).catch((e) => e);
    expect(failure.name).toBe(ErrorName.InvalidInput);
  });

  it('scaffolds a migration that runs and round-trips once filled in', async () => {
    const dir = await migrationsDir({
      '001-base.mjs': sqlModule('create table base (id int)', 'drop table base'),
    });
    const created = await scaffoldMigration({ migrationsDir: dir, description: 'add vendors' });
    const source = await readFile(created.path, 'utf8');
    await writeFile(
      join(dir, created.name),
      source
        .replace('await sql``;', 'await sql`create table vendors (id int)`;')
        .replace('await sql``;', 'await sql`drop table vendors`;'),
    );

    const result = await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir: dir });

    expect(result.ok).toBe(true);
    expect(result.migrations.map((m) => m.name)).toEqual(['001-base.mjs', '002-add-vendors.mts']);
  });
});
