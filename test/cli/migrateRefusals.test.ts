import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { snapshotSchema } from '../../cli/migrations/schemaSnapshot.ts';
import { runCli, runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { addMigrations, migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const table = (name: string) => sqlModule(`create table ${name} (id int)`, `drop table ${name}`);

/**
 * The test database under a host name that is not loopback: 0.0.0.0 still reaches the server on this
 * machine, so a command that failed to refuse would really change the database and the test would see it.
 */
function notLocal(url: string): string {
  const parsed = new URL(url);
  parsed.hostname = '0.0.0.0';
  return parsed.toString();
}

describe('migrate commands that would mean nothing fail instead of succeeding silently', () => {
  let db: TestDatabase;
  let cwd: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, { env, cwd });
  /** What a refusal must leave as it was: the schema and every history row. */
  const state = async () => ({
    schema: await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' }),
    history: await db.sql`select * from migration_pipeline_history order by id`.catch(() => []),
  });

  beforeEach(async () => {
    db = await createTestDatabase();
    // The TLS default for a host that is not loopback would refuse the test server, which has no TLS.
    env = { DATABASE_URL: db.url, DATABASE_TLS: 'disable' };
    cwd = await migrationsDir({});
    await mkdir(join(cwd, 'migrations'));
    await addMigrations(join(cwd, 'migrations'), { '001-a.mjs': table('a'), '002-b.mjs': table('b') });
  });
  afterEach(async () => {
    await db.drop();
  });

  it('down --run naming a run that applied nothing is a named failure, not "Nothing to revert"', async () => {
    await cli('migrate', 'up', '--run-id', 'release-1');
    const before = await state();

    const { code, stderr } = await cli('migrate', 'down', '--run', 'release-2');

    expect(code).toBe(1);
    expect(stderr).toContain('InvalidInput: --run release-2: no applied migration was applied by that run');
    expect(await state()).toEqual(before);
  });

  it('--to with --step, and --step 0, are usage errors that apply and revert nothing', async () => {
    const upResults = await Promise.all([
      cli('migrate', 'up', '--to', '002-b', '--step', '1'),
      cli('migrate', 'up', '--step', '0'),
    ]);
    expect(upResults.map((result) => result.code)).toEqual([2, 2]);
    expect(upResults[0]?.stderr).toContain('Give --to or --step, not both');
    expect(upResults[1]?.stderr).toContain('--step must be 1 or more');
    const [history] = await db.sql`select to_regclass('migration_pipeline_history') as t`;
    expect(history?.t).toBeNull();

    await cli('migrate', 'up');
    const before = await state();
    const downResults = await Promise.all([
      cli('migrate', 'down', '--to', '001-a', '--step', '1'),
      cli('migrate', 'down', '--step', '0'),
      cli('migrate', 'down', '--run', 'x', '--step', '2'),
    ]);
    expect(downResults.map((result) => result.code)).toEqual([2, 2, 2]);
    expect(downResults[0]?.stderr).toContain('Give at most one of --to, --step, --all and --run');
    expect(await state()).toEqual(before);
  });

  it('verify on a folder without migrations is a named failure', async () => {
    const empty = await migrationsDir({});

    const { code, stderr } = await cli('migrate', 'verify', '--dir', empty);

    expect(code).toBe(1);
    expect(stderr).toContain(`InvalidInput: The migrations folder ${empty} holds no migration`);
    expect(stderr).toContain('--dir');
  });

  it('migrate --help prints the migrate commands and exits 0; an unknown one stays a usage error', async () => {
    for (const help of ['--help', '-h', 'help']) {
      const { code, stdout } = await cli('migrate', help);
      expect(code).toBe(0);
      expect(stdout).toContain('Usage: migration-pipeline migrate <command>');
      expect(stdout).toMatch(/^ {2}redo /m);
    }
    expect((await cli('migrate', 'sideways')).code).toBe(2);
  });

  it('down --all on a database that is not local needs --yes where there is no terminal to ask on', async () => {
    await cli('migrate', 'up');
    const before = await state();
    env.DATABASE_URL = notLocal(db.url);

    const refused = await cli('migrate', 'down', '--all');

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('add --yes');
    expect(await state()).toEqual(before);

    const confirmed = await cli('migrate', 'down', '--all', '--yes', '--json');
    expect(confirmed.code).toBe(0);
    expect(JSON.parse(confirmed.stdout).reverted).toEqual(['002-b.mjs', '001-a.mjs']);

    // A local database asks nothing: it is the developer's own.
    env.DATABASE_URL = db.url;
    await cli('migrate', 'up');
    expect((await cli('migrate', 'down', '--all')).code).toBe(0);
  });

  it('down --all on a database that is not local asks at a terminal, and changes nothing unless told yes', async () => {
    await cli('migrate', 'up');
    const before = await state();
    const onTerminal = (answer: string) =>
      inTerminal(['migrate', 'down', '--all'], { ...env, DATABASE_URL: notLocal(db.url) }, cwd, answer);

    const declined = await onTerminal('n');

    expect(declined.output).toContain('Revert every applied migration of postgres://');
    expect(declined.output).toContain('NotConfirmed: Nothing was reverted.');
    expect(declined.code).toBe(1);
    expect(await state()).toEqual(before);

    const accepted = await onTerminal('yes');
    expect(accepted.code).toBe(0);
    expect(accepted.output).toContain('Reverted 2 migration(s)');
  });

  it('redo reverts the newest migration and applies it again as its file is now, recording the new checksum', async () => {
    // Each command its own process, as typed: one process imports a module once, whatever the file becomes.
    const program = (...args: string[]) => runCliProcess(args, { variables: env, cwd });
    const file = join(cwd, 'migrations', '002-b.mjs');
    // A scaffold applied before it was filled in.
    await writeFile(file, sqlModule('select 1', 'select 1'));
    await program('migrate', 'up');
    const filledIn = sqlModule('create table b (id int)', 'drop table if exists b');
    await writeFile(file, filledIn);

    const { code, stdout } = await program('migrate', 'redo', '--json');

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ redone: '002-b.mjs', changed: true });
    expect(await db.sql`select to_regclass('b') is not null as present`).toEqual([{ present: true }]);
    const [row] = await db.sql`select checksum from migration_pipeline_history where name = '002-b.mjs'`;
    expect(row?.checksum).toBe(createHash('sha256').update(filledIn).digest('hex'));
    const status = await cli('migrate', 'status', '--json');
    expect(JSON.parse(status.stdout).problems).toEqual([]);

    await cli('migrate', 'down', '--all');
    const nothingApplied = await cli('migrate', 'redo');
    expect(nothingApplied.code).toBe(1);
    expect(nothingApplied.stderr).toContain('Nothing to redo');
  });

  it('redo is refused, with a named error saying why, on a database that is not local', async () => {
    await cli('migrate', 'up');
    const before = await state();
    await writeFile(join(cwd, 'migrations', '002-b.mjs'), table('b_changed'));
    env.DATABASE_URL = notLocal(db.url);

    const { code, stderr } = await cli('migrate', 'redo');

    expect(code).toBe(1);
    expect(stderr).toContain('RedoRefused:');
    expect(stderr).toContain('not a local database');
    expect(await state()).toEqual(before);
  });
});

/** Runs the CLI in a pseudo-terminal (util-linux `script`), typing `answer` once it asks. */
function inTerminal(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  answer: string,
): Promise<{ code: number | null; output: string }> {
  const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, resolve('cli/bin.ts'), ...args].map(quote).join(' ');
  const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  let output = '';
  let answered = false;
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (!answered && output.includes('[y/N]')) {
      answered = true;
      child.stdin.write(`${answer}\n`);
    }
  });
  return new Promise((done) => child.on('close', (code) => done({ code, output })));
}
