import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { appWithCli, loadAction, runComposite } from './composite.ts';

const CREATE_USERS = `-- migrate:up
create table users (id bigint generated always as identity primary key, email text not null);

-- migrate:down
drop table users;
`;

/** Locks users against writes for the whole build: what check exists to catch. */
const INDEX_WITHOUT_CONCURRENTLY = `-- migrate:up
-- the login page looks users up by email
create index users_email on users (email);

-- migrate:down
drop index users_email;
`;

/** A module building its SQL: its statement is found in the file as well. */
const UNIQUE_EMAIL_MODULE = `export async function up(sql) {
  await sql\`alter table users
    add constraint users_email_unique unique (email)\`;
}

export async function down(sql) {
  await sql\`alter table users drop constraint users_email_unique\`;
}
`;

const INDEX_CONCURRENTLY = `-- migrate:up transaction:false
create index concurrently if not exists users_email on users (email);

-- migrate:down transaction:false
drop index concurrently if exists users_email;
`;

/** The job's environment as the runner gives it: this machine's, without npm's or the suite's database settings. */
function jobEnvironment(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && !/^(DATABASE_|npm_|GITHUB_)/i.test(entry[0]),
    ),
  );
}

describe('actions/check/action.yml', () => {
  it('is a composite action whose inputs are described and whose steps run bash', async () => {
    const { action } = await loadAction('check');

    expect(action.runs.using).toBe('composite');
    expect(Object.keys(action.inputs)).toEqual([
      'dir',
      'database-url',
      'since',
      'base',
      'seed',
      'config',
      'working-directory',
    ]);
    for (const input of Object.values(action.inputs)) {
      expect(input.description.length).toBeGreaterThan(10);
      expect(input.required).toBe(false);
      expect(input.default).toBeTypeOf('string');
    }
    for (const step of action.runs.steps) {
      expect(step).toMatchObject({
        shell: 'bash',
        run: expect.stringContaining('migration-pipeline check --github'),
      });
      // Inputs are passed as variables: pasted into the script, a value could run as a command.
      expect(step.run).not.toContain('${{');
    }
  });

  describe('run as GitHub runs it, in an app with the package installed', () => {
    let app: string;
    let db: TestDatabase;
    beforeEach(async () => {
      app = await appWithCli();
      db = await createTestDatabase();
      await mkdir(join(app, 'db', 'migrations'), { recursive: true });
      await writeFile(join(app, 'db', 'migrations', '001-create-users.sql'), CREATE_USERS);
    });
    afterEach(async () => {
      await db.drop();
      await rm(app, { recursive: true, force: true });
    });

    it('an unsafe migration: annotations on its file and line, a summary table, a failed step', async () => {
      await writeFile(join(app, 'db', 'migrations', '002-index-users-email.sql'), INDEX_WITHOUT_CONCURRENTLY);
      await writeFile(join(app, 'db', 'migrations', '003-unique-email.mjs'), UNIQUE_EMAIL_MODULE);

      const { code, stdout, stderr, summary } = await runComposite('check', {
        inputs: { dir: 'db/migrations', 'database-url': db.url },
        workspace: app,
        env: jobEnvironment(),
      });

      expect(code, stderr).toBe(1);
      const annotations = stdout.split('\n').filter((line) => line.startsWith('::'));
      // One annotation per problem: the measured lock and squawk's rule are one finding.
      expect(annotations).toEqual([
        expect.stringMatching(
          /^::error file=db\/migrations\/002-index-users-email\.sql,line=3,title=non-concurrent-index in 002-index-users-email\.sql::builds an index without CONCURRENTLY: ShareLock on public\.users blocks writes, held \d+ ms through 10,000 rows here.*%0Ain: -- the login page looks users up by email create index users_email on users \(email\)%0Asafer: Build it with CREATE INDEX CONCURRENTLY/,
        ),
        expect.stringMatching(
          /^::error file=db\/migrations\/003-unique-email\.mjs,line=2,title=constraint-builds-index in 003-unique-email\.mjs::.*USING INDEX/,
        ),
      ]);
      expect(summary).toContain('### Migration check failed ❌');
      expect(summary).toMatch(/3 migration\(s\) checked: \d+ error\(s\), \d+ warning\(s\)\./);
      expect(summary).toContain(
        '| `db/migrations/002-index-users-email.sql:3` | ❌ error | non-concurrent-index |',
      );
      expect(summary).toContain('No finding: `001-create-users.sql`.');
      expect(stderr).toContain('Database: postgres://');
    });

    it('a safe migration: no annotation, a summary that passed, a step that passes', async () => {
      await writeFile(join(app, 'db', 'migrations', '002-index-users-email.sql'), INDEX_CONCURRENTLY);

      const { code, stdout, stderr, summary } = await runComposite('check', {
        inputs: { dir: 'db/migrations', 'database-url': db.url, since: '001-create-users' },
        workspace: app,
        env: jobEnvironment(),
      });

      expect(code, stderr).toBe(0);
      expect(stdout).toContain('✓ 002-index-users-email.sql');
      expect(stdout).not.toContain('001-create-users.sql');
      expect(stdout.split('\n').filter((line) => line.startsWith('::'))).toEqual([]);
      expect(summary).toBe(
        '### Migration check passed ✅\n\n1 migration(s) checked: 0 error(s), 0 warning(s).\n\nNo finding: `002-index-users-email.sql`.\n',
      );
    });

    it('without database-url: on an embedded PostgreSQL started on the runner', async () => {
      await writeFile(join(app, 'db', 'migrations', '002-index-users-email.sql'), INDEX_WITHOUT_CONCURRENTLY);

      const { code, stdout, stderr } = await runComposite('check', {
        inputs: { dir: 'db/migrations' },
        workspace: app,
        env: jobEnvironment(),
      });

      expect(code, stderr).toBe(1);
      expect(stderr).toContain('Database: the embedded PostgreSQL in .migration-pipeline/');
      expect(stdout).toContain('::error file=db/migrations/002-index-users-email.sql,line=3,');
    });

    it('a check that cannot finish: an error annotation naming the error, a failed step', async () => {
      const { code, stdout } = await runComposite('check', {
        inputs: { dir: 'migrations', 'database-url': db.url },
        workspace: app,
        env: jobEnvironment(),
      });

      expect(code).toBe(1);
      expect(stdout).toMatch(
        /^::error title=check failed%3A InvalidInput::The migrations folder .* cannot be read/m,
      );
    });
  });
});
