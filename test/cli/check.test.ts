import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';

const execFileAsync = promisify(execFile);

describe('migration-pipeline check (CLI)', () => {
  let db: TestDatabase;
  let cwd: string;
  beforeEach(async () => {
    db = await createTestDatabase();
    cwd = await migrationsDir({});
    await mkdir(join(cwd, 'migrations'));
    await writeFile(
      join(cwd, 'migrations', '001-t.mjs'),
      sqlModule('create table t (id int, v text)', 'drop table t'),
    );
    await writeFile(
      join(cwd, 'migrations', '002-rename.mjs'),
      sqlModule('alter table t rename column v to w', 'alter table t rename column w to v'),
    );
  });
  afterEach(async () => {
    await db.drop();
  });
  const cli = (...args: string[]) => runCli(['check', ...args], { env: { DATABASE_URL: db.url }, cwd });

  it('prints each finding with its statement and the safer pattern, and exits 1 on an error', async () => {
    const { code, stdout } = await cli();

    expect(code).toBe(1);
    expect(stdout).toContain('✓ 001-t.mjs');
    expect(stdout).toContain('✗ 002-rename.mjs');
    expect(stdout).toContain('ERROR rename-column');
    expect(stdout).toContain('in: alter table t rename column v to w');
    expect(stdout).toMatch(/2 migration\(s\) checked: 1 error\(s\)/);
  });

  it('takes rule severities from package.json and from --config, and prints JSON', async () => {
    await writeFile(
      join(cwd, 'package.json'),
      JSON.stringify({ 'migration-pipeline': { check: { rules: { 'rename-column': 'warning' } } } }),
    );
    const relaxed = await cli('--json');
    expect(relaxed.code).toBe(0);
    expect(JSON.parse(relaxed.stdout)).toMatchObject({ ok: true, errors: 0 });

    await writeFile(join(cwd, 'strict.json'), JSON.stringify({ rules: { 'rename-column': 'error' } }));
    expect((await cli('--config', 'strict.json')).code).toBe(1);

    await writeFile(join(cwd, 'bad.json'), JSON.stringify({ rules: { 'rename-column': 'fatal' } }));
    expect((await cli('--config', 'bad.json')).code).toBe(2);
  });

  it("refuses a rule name that is neither its own nor squawk's, and takes squawk's", async () => {
    await writeFile(
      join(cwd, 'typo.json'),
      JSON.stringify({ rules: { 'drop-columns': 'off', 'ban-char-field': 'off' } }),
    );
    const typo = await cli('--config', 'typo.json');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('Unknown check rule "drop-columns" in package.json or --config');
    expect(typo.stderr).not.toContain('ban-char-field');

    await writeFile(
      join(cwd, 'known.json'),
      JSON.stringify({ rules: { 'ban-char-field': 'off', 'rename-column': 'warning' } }),
    );
    expect((await cli('--config', 'known.json')).code).toBe(0);
  });

  it('--base REF checks what the branch added since REF, though the local database applied it; a bad ref is named', async () => {
    const git = (...args: string[]) => execFileAsync('git', ['-C', cwd, ...args]);
    await git('init', '-q');
    await git(
      '-c',
      'user.email=ci@example.com',
      '-c',
      'user.name=ci',
      'commit',
      '-q',
      '--allow-empty',
      '-m',
      'base',
    );
    await git('add', 'migrations/001-t.mjs');
    await git('-c', 'user.email=ci@example.com', '-c', 'user.name=ci', 'commit', '-q', '-m', 'the table');
    await git('tag', 'main-before');
    await git('add', 'migrations/002-rename.mjs');
    await git('-c', 'user.email=ci@example.com', '-c', 'user.name=ci', 'commit', '-q', '-m', 'the rename');
    await writeFile(
      join(cwd, 'migrations', '003-untracked.mjs'),
      sqlModule('create table u (id int)', 'drop table u'),
    );
    await runCli(['migrate', 'up'], { env: { DATABASE_URL: db.url }, cwd });

    const branch = await cli('--base', 'main-before', '--json');
    expect(JSON.parse(branch.stdout).migrations.map((m: { name: string }) => m.name)).toEqual([
      '002-rename.mjs',
      '003-untracked.mjs',
    ]);
    const bad = await cli('--base', 'no-such-ref');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('InvalidInput: --base no-such-ref: git could not compare');
    await git('add', 'migrations');
    await git('-c', 'user.email=ci@example.com', '-c', 'user.name=ci', 'commit', '-q', '-m', 'all');
    expect((await cli('--base', 'HEAD')).stderr).toContain('the branch adds no migration');
  });

  it('--stats-from scales the measured hold to production: an error at 80M rows, a warning at a few, from a file or a database', async () => {
    await writeFile(
      join(cwd, 'migrations', '003-index.mjs'),
      sqlModule('create index t_id on t (id)', 'drop index t_id'),
    );
    await writeFile(join(cwd, 'big.json'), JSON.stringify({ t: 80_000_000 }));
    const big = await cli('--since', '002-rename', '--stats-from', 'big.json', '--json');
    expect(big.code).toBe(1);
    const [finding] = JSON.parse(big.stdout).migrations[0].findings;
    expect(finding).toMatchObject({
      rule: 'non-concurrent-index',
      severity: 'error',
      file: 'migrations/003-index.mjs',
      line: 2, // sqlModule's up is on its second line
    });
    expect(finding.message).toMatch(/: about .+ at production's 80,000,000 rows of public\.t\.$/);
    expect(finding.measured.expectedMs).toBeGreaterThan(finding.measured.heldMs * 1000);

    await writeFile(join(cwd, 'small.json'), JSON.stringify({ t: 40 }));
    const small = await cli('--since', '002-rename', '--stats-from', 'small.json', '--json');
    expect(small.code).toBe(0);
    expect(JSON.parse(small.stdout).migrations[0].findings).toEqual([
      expect.objectContaining({ rule: 'non-concurrent-index', severity: 'warning' }),
    ]);

    // A production database, read-only: its planner's estimate of t's rows.
    const production = await createTestDatabase();
    try {
      await production.sql.unsafe(
        'create table t (id int, w text); insert into t select g, g::text from generate_series(1, 300) g; analyze t',
      );
      const fromDb = await cli('--since', '002-rename', '--stats-from', production.url, '--json');
      expect(JSON.parse(fromDb.stdout).migrations[0].findings[0].message).toMatch(
        /at production's 300 rows of public\.t\.$/,
      );
    } finally {
      await production.drop();
    }
    // A URL in capitals is still a URL: refused as one, its password never printed as a file name.
    const upper = await cli('--since', '002-rename', '--stats-from', 'POSTGRES://u:hunter2@127.0.0.1:1/x');
    expect(upper.code).toBe(1);
    expect(`${upper.stdout}${upper.stderr}`).not.toContain('hunter2');
    await writeFile(join(cwd, 'bad.json'), JSON.stringify({ t: 'many' }));
    const bad = await cli('--since', '002-rename', '--stats-from', 'bad.json');
    expect(bad.stderr).toContain('--stats-from');
    expect(bad.stderr).toContain('"t" must be a whole number of rows');
  });

  it('--since checks only the migrations after the one named', async () => {
    const { stdout } = await cli('--since', '001-t', '--json');
    expect(JSON.parse(stdout).migrations.map((m: { name: string }) => m.name)).toEqual(['002-rename.mjs']);
  });

  it('finding no migration to check is a named failure that says what to check instead', async () => {
    await runCli(['migrate', 'up'], { env: { DATABASE_URL: db.url }, cwd });
    const [allApplied, nothingAfter, emptyFolder] = await Promise.all([
      cli('--json'),
      cli('--since', '002-rename'),
      cli('--dir', await migrationsDir({})),
    ]);

    expect([allApplied.code, nothingAfter.code, emptyFolder.code]).toEqual([1, 1, 1]);
    expect(JSON.parse(allApplied.stdout).error).toMatchObject({ name: 'InvalidInput' });
    expect(allApplied.stderr).toContain('none is pending to check');
    expect(allApplied.stderr).toContain('--since');
    expect(nothingAfter.stderr).toContain('InvalidInput: --since 002-rename: no migration comes after it');
    expect(emptyFolder.stderr).toContain('holds no migration');
  });
});
