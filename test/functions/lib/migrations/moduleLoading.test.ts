import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../support/database.ts';
import { migrationsDir } from '../../../support/migrationsDir.ts';

const GOOD = '-- migrate:up\ncreate table good (id int);\n-- migrate:down\ndrop table good;\n';

/**
 * `migration-pipeline migrate …` as a separate Node process: modules load through Node's own loader,
 * as in production. Killed after `killAfterMs`, so that a hang fails the test instead of stalling it.
 */
function cli(
  db: TestDatabase,
  args: string[],
  {
    env = {},
    killAfterMs = 20_000,
    asUser,
  }: { env?: Record<string, string>; killAfterMs?: number; asUser?: number } = {},
): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve('cli/bin.ts'), 'migrate', ...args],
      {
        env: { ...process.env, DATABASE_URL: db.url, DATABASE_TLS: 'disable', ...env },
        timeout: killAfterMs,
        ...(asUser === undefined ? {} : { uid: asUser, gid: asUser }),
      },
      (error, stdout, stderr) =>
        done({
          code: error ? ((error as { code?: number }).code ?? null) : 0,
          output: stdout + stderr,
          ms: Date.now() - started,
        }),
    );
  });
}

describe('loading modules and files, through the CLI', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const relations = async () =>
    db.sql`select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'public'`;

  it('stops a module that loops forever at import, within the import timeout', async () => {
    const dir = await migrationsDir({
      '001-good.sql': GOOD,
      '002-loops.mjs': 'export async function up() {}\nwhile (true) {}\n',
    });
    const { code, output, ms } = await cli(db, ['up', '--dir', dir], {
      env: { MIGRATION_IMPORT_TIMEOUT: '500ms' },
    });
    expect(output).toContain('MigrationInvalid');
    expect(output).toContain('002-loops.mjs: importing it did not finish within 0.5 s');
    expect(code).not.toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(await relations()).toEqual([]);
  }, 30_000);

  /** A migration that builds its table from a helper in `lib/`, and that helper. */
  async function withHelper(helperName: string, helperSource: string) {
    const dir = await migrationsDir({
      '001-good.sql': GOOD,
      '002-uses-helper.ts': [
        `import { columns } from './lib/${helperName}';`,
        "export async function up(sql) { await sql.unsafe('create table helped (' + columns + ')'); }",
      ].join('\n'),
    });
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', helperName), helperSource);
    return dir;
  }

  it('keeps helpers in a subfolder out of the plan, and names a helper’s file and line when it fails', async () => {
    const fine = await cli(db, [
      'up',
      '--dir',
      await withHelper('columns.mjs', 'export const columns = "id int";\n'),
    ]);
    expect(fine.code, fine.output).toBe(0);

    for (const [helperName, helperSource, message] of [
      [
        'columns.mjs',
        'export const columns = "id int";\n\nthrow new Error("no config");\n',
        'in lib/columns.mjs:3: importing it threw: Error: no config',
      ],
      [
        'columns.mjs',
        'import pad from "left-pad-not-installed";\nexport const columns = pad;\n',
        "in lib/columns.mjs:1: Cannot find package 'left-pad-not-installed'",
      ],
      [
        'columns.mjs',
        'export const columns = "id int";\nconst x = ;\n',
        'in lib/columns.mjs:2: it does not parse',
      ],
      [
        'columns.ts',
        'export const columns = "id int";\nenum Color { Red }\n',
        'in lib/columns.ts:2: TypeScript enum is not supported',
      ],
    ] as const) {
      await db.drop();
      db = await createTestDatabase();
      const { code, output } = await cli(db, ['up', '--dir', await withHelper(helperName, helperSource)]);
      expect(code, output).not.toBe(0);
      expect(output).toContain(`002-uses-helper.ts: ${message}`);
      expect(await relations()).toEqual([]);
    }
  }, 60_000);

  it('names a file it cannot read, and the fix', async () => {
    const dir = await migrationsDir({
      '001-good.sql': GOOD,
      '002-secret.sql': GOOD.replaceAll('good', 'secret'),
    });
    await chmod(dir, 0o755);
    await chmod(join(dir, '001-good.sql'), 0o644);
    await chmod(join(dir, '002-secret.sql'), 0o000);
    // root reads any file: run the CLI as nobody then.
    const { code, output } = await cli(db, ['up', '--dir', dir], {
      ...(process.getuid?.() === 0 ? { asUser: 65534 } : {}),
    });
    expect(code).not.toBe(0);
    expect(output).toContain('MigrationInvalid');
    expect(output).toContain('002-secret.sql: it cannot be read (EACCES); fix its permissions.');
    expect(await relations()).toEqual([]);
  });

  it('takes --step and --lock-retries in plain digits only, and refuses an empty --run-id', async () => {
    const dir = await migrationsDir({ '001-good.sql': GOOD });
    for (const step of ['1e3', '0x10', ' 2', '']) {
      const { code, output } = await cli(db, ['up', '--dir', dir, '--step', step]);
      expect(code, output).toBe(2);
      expect(output).toContain('--step must be');
    }
    const retries = await cli(db, ['up', '--dir', dir, '--lock-retries', '0x2']);
    expect(retries.code, retries.output).toBe(2);
    expect(retries.output).toContain('--lock-retries must be a whole number');
    const { code, output } = await cli(db, ['up', '--dir', dir, '--run-id', '']);
    expect(code, output).toBe(2);
    expect(output).toContain('--run-id must not be empty');
    expect(await relations()).toEqual([]);
  }, 60_000);
});
