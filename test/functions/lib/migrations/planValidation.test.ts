import { execFile } from 'node:child_process';
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { MAX_MIGRATION_BYTES } from '../../../../functions/lib/migrations/files.ts';
import { migrateUp, resolveSettings } from '../../../../functions/lib/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

/** Every relation and schema the tests could have created: nothing may appear after a refusal. */
async function footprint(db: TestDatabase) {
  return db.sql`
    select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') order by 1, 2`;
}

const GOOD = '-- migrate:up\ncreate table good (id int);\n-- migrate:down\ndrop table good;\n';

/**
 * `migration-pipeline migrate up` as a separate Node process: modules must load through Node's own
 * loader and type stripping, as in production, not through the test runner's transform.
 */
async function migrateUpInProcess(db: TestDatabase, dir: string, env: Record<string, string> = {}) {
  return promisify(execFile)(process.execPath, [resolve('cli/bin.ts'), 'migrate', 'up', '--dir', dir], {
    env: { ...process.env, DATABASE_URL: db.url, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      output: error.stdout + error.stderr,
    }),
  );
}

describe('the whole plan is checked before the first statement', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  /** Runs `001-good.sql` plus `files`; the run must fail MigrationInvalid naming `where`, with nothing changed. */
  async function expectRefused(
    files: Record<string, string>,
    where: string,
    settings = {},
    selection: { to?: string } = {},
  ) {
    const dir = await migrationsDir({ '001-good.sql': GOOD, ...files });
    const failure = await migrateUp({
      database: db.url,
      migrationsDir: dir,
      settings: resolveSettings(settings),
      ...selection,
    }).catch((error) => error);
    expect(failure.name, failure.stack).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain(where);
    expect(await footprint(db)).toEqual([]);
    return failure;
  }

  /** The same, through the CLI as a process. */
  async function expectModuleRefused(files: Record<string, string>, where: string, env = {}) {
    const dir = await migrationsDir({ '001-good.sql': GOOD, ...files });
    const { code, output } = await migrateUpInProcess(db, dir, env);
    expect(code, output).not.toBe(0);
    expect(output).toContain('MigrationInvalid');
    expect(output).toContain(where);
    expect(await footprint(db)).toEqual([]);
    return output;
  }

  it('names the file and line of a TypeScript syntax error', async () => {
    await expectModuleRefused(
      { '002-typo.ts': 'export async function up(sql) {\n  const x = ;\n}\n' },
      '002-typo.ts:2: it does not parse',
    );
  });

  it('names a construct type stripping cannot run (a TS enum) and says what to use', async () => {
    const output = await expectModuleRefused(
      { '002-enum.ts': 'export async function up(sql) {}\nenum Color { Red }\n' },
      '002-enum.ts:2',
    );
    expect(output).toContain('instead of an enum');
  });

  it('names an import that will not resolve at run time, and its line', async () => {
    const failure = await expectRefused(
      {
        '002-dep.mjs':
          '// needs a package\nimport pad from "left-pad-not-installed";\nexport async function up() {}\n',
      },
      '002-dep.mjs:2',
    );
    expect(failure.message).toContain('ship without node_modules');
  });

  it('names a module that throws at import, at the line that threw', async () => {
    await expectModuleRefused(
      { '002-throws.mjs': 'export async function up() {}\n\nthrow new Error("no config");\n' },
      '002-throws.mjs:3: importing it threw: Error: no config',
    );
  });

  it('names a JavaScript syntax error with its line', async () => {
    await expectModuleRefused(
      { '002-broken.mjs': 'export async function up(sql) {\n\n  await sql`select 1`\n  )\n}\n' },
      '002-broken.mjs:4',
    );
  });

  it('gives up on a module whose import never finishes, within the import timeout', async () => {
    const started = Date.now();
    await expectModuleRefused(
      { '002-hangs.mjs': 'await new Promise(() => {});\nexport async function up() {}\n' },
      '002-hangs.mjs: importing it did not finish within 0.5 s',
      { MIGRATION_IMPORT_TIMEOUT: '500ms' },
    );
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('refuses a module without up, or with a down or transaction of the wrong type', async () => {
    await expectRefused(
      { '002-none.mjs': 'export const upp = 1;\n' },
      '002-none.mjs: it does not export an up',
    );
    await expectRefused(
      { '002-tx.mjs': 'export async function up() {}\nexport const transaction = "false";\n' },
      '002-tx.mjs: `transaction` must be exported as true or false',
    );
  });

  it('refuses SQL files without an up section or with statements before it, naming the line', async () => {
    await expectRefused({ '002-bare.sql': 'create table bare (id int);\n' }, '002-bare.sql:1');
    await expectRefused(
      { '002-early.sql': '-- header\n\ncreate table early (id int);\n-- migrate:up\nselect 1;\n' },
      '002-early.sql:3: statements precede "-- migrate:up"',
    );
    await expectRefused(
      { '002-upside.sql': '-- migrate:down\ndrop table x;\n-- migrate:up\ncreate table x (id int);\n' },
      '002-upside.sql:1',
    );
  });

  it('refuses two files with the same number, naming both', async () => {
    const failure = await expectRefused(
      { '002-a.ts': 'export async function up() {}\n', '002-b.sql': '-- migrate:up\nselect 1;\n' },
      '002-b.sql: it has the same number as 002-a.ts',
    );
    expect(failure.context).toMatchObject({ migration: '002-b.sql' });
  });

  it('refuses a symlink leading out of the folder or to nothing, and follows one inside it', async () => {
    const outside = join(await migrationsDir({}), 'elsewhere.sql');
    await writeFile(outside, '-- migrate:up\ncreate table elsewhere (id int);\n');
    const dir = await migrationsDir({ '001-good.sql': GOOD });
    await symlink(outside, join(dir, '002-outside.sql'));
    const out = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(out.name).toBe(ErrorName.MigrationInvalid);
    expect(out.message).toContain('002-outside.sql: it is a symbolic link to');

    const dangling = await migrationsDir({ '001-good.sql': GOOD });
    await symlink(join(tmpdir(), 'no-such-migration.sql'), join(dangling, '002-gone.sql'));
    const gone = await migrateUp({ database: db.url, migrationsDir: dangling }).catch((error) => error);
    expect(gone.message).toContain('002-gone.sql: it is a symbolic link to nothing');
    expect(await footprint(db)).toEqual([]);

    const inside = await migrationsDir({ '001-good.sql': GOOD });
    await mkdir(join(inside, 'shared'));
    await writeFile(join(inside, 'shared', 'x.sql'), '-- migrate:up\ncreate table linked (id int);\n');
    await symlink(join(inside, 'shared', 'x.sql'), join(inside, '002-linked.sql'));
    const result = await migrateUp({ database: db.url, migrationsDir: inside });
    expect(result.applied).toEqual(['001-good.sql', '002-linked.sql']);
  });

  it('refuses a file too large to be a migration before reading it', async () => {
    const dir = await migrationsDir({ '001-good.sql': GOOD, '002-dump.sql': '' });
    await truncate(join(dir, '002-dump.sql'), MAX_MIGRATION_BYTES + 1);
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain('002-dump.sql: it is 33,554,433 bytes, more than the 32 MiB');
    expect(await footprint(db)).toEqual([]);
  });

  it('refuses a symlink loop as a loop', async () => {
    const dir = await migrationsDir({ '001-good.sql': GOOD });
    await symlink(join(dir, '002-loop.sql'), join(dir, '002-loop.sql'));
    const failure = await migrateUp({ database: db.url, migrationsDir: dir }).catch((error) => error);
    expect(failure.name).toBe(ErrorName.MigrationInvalid);
    expect(failure.message).toContain('002-loop.sql: it is a symbolic link in a loop (ELOOP)');
    expect(await footprint(db)).toEqual([]);
  });

  it('refuses a migration extension that is not lower case rather than skipping the file', async () => {
    await expectRefused(
      { '002-upper.SQL': '-- migrate:up\ncreate table upper (id int);\n' },
      '002-upper.SQL: its extension .SQL is not lower case',
    );
  });

  it('checks pending files past --to as well', async () => {
    await expectRefused(
      { '002-fine.sql': GOOD.replaceAll('good', 'fine'), '003-late.sql': 'create table late (id int);\n' },
      '003-late.sql:1',
      {},
      { to: '002-fine' },
    );
  });
});
