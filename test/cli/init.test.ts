import { mkdir, mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { CliIo } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';
import { runCliProcess } from '../support/cli.ts';
import { addMigrations } from '../support/migrationsDir.ts';

const WORKFLOW = '.github/workflows/migration-pipeline.yml';
const GUIDE = 'docs/migration-pipeline-ci.md';

/** An app's repository as a folder of files (`name/` for an empty folder). */
async function repository(files: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'init-app-'));
  for (const [name, text] of Object.entries(files)) {
    if (name.endsWith('/')) await mkdir(join(root, name), { recursive: true });
    else await addMigrations(root, { [name]: text });
  }
  return root;
}

/** Every file and folder under root with its content (folders as `/`) and modification time. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files: Record<string, string> = {};
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    files[relative(root, path)] = entry.isDirectory()
      ? '/'
      : `${info.mtimeMs} ${await readFile(path, 'utf8')}`;
  }
  return files;
}

const init = (root: string, ...args: string[]) =>
  runCliProcess(['init', ...args], { variables: { AWS_REGION: 'us-east-2' }, cwd: root });

interface Workflow {
  on: Record<string, unknown>;
  env: Record<string, string>;
  jobs: Record<
    string,
    { if: string; steps: { uses?: string; with?: Record<string, string>; run?: string }[] }
  >;
}

const workflowOf = async (root: string) => parse(await readFile(join(root, WORKFLOW), 'utf8')) as Workflow;

describe('migration-pipeline init', () => {
  it('in an empty repository: an empty migrations/, the workflow, the IAM guide; the Dockerfile lines shown', async () => {
    const root = await repository({
      '.git/config': '[remote "origin"]\n\turl = git@github.com:shop/buffet.git\n',
    });

    const { code, stdout, stderr } = await init(root);

    expect(code, stderr).toBe(0);
    expect(await readdir(join(root, 'migrations'))).toEqual([]);
    expect(stdout).toContain(
      'Created migrations/, empty: "npx migration-pipeline migrate new <description>"',
    );
    expect(stdout).toContain(
      'No Dockerfile yet. When you write it, these lines carry the migrations in the image:',
    );
    expect(stdout).toContain('    COPY migrations/ /app/migrations/');
    expect(stdout).toContain(`Created ${WORKFLOW}`);
    expect(stdout).toContain(`Created ${GUIDE}`);
    await expect(stat(join(root, 'Dockerfile'))).rejects.toThrow('ENOENT');

    const workflow = await workflowOf(root);
    expect(Object.keys(workflow.on)).toEqual(['pull_request', 'push']);
    expect(workflow.on.push).toEqual({ branches: ['main'] });
    expect(workflow.env).toEqual({
      AWS_REGION: 'us-east-2',
      ECR_REPOSITORY: expect.stringMatching(/^init-app-/),
      PIPELINE_STACK: 'migration-pipeline',
    });
    const { check, release } = workflow.jobs;
    expect(check?.if).toBe("github.event_name == 'pull_request'");
    expect(check?.steps.map((step) => step.uses ?? step.run)).toEqual([
      'actions/checkout@v4',
      'actions/setup-node@v4',
      'npm ci',
      './node_modules/migration-pipeline/actions/check',
    ]);
    expect(check?.steps[3]?.with).toEqual({
      dir: 'migrations',
      base: ['$', '{{ github.event.pull_request.base.sha }}'].join(''),
    });
    expect(check?.steps[0]?.with).toEqual({ 'fetch-depth': 0 });
    // Inert until the role's variable is set.
    expect(release?.if).toBe("github.event_name == 'push' && vars.AWS_ROLE_ARN != ''");
    expect(release?.steps.map((step) => step.uses ?? step.run?.split('\n')[0])).toEqual([
      'actions/checkout@v4',
      'actions/setup-node@v4',
      'npm ci',
      'aws-actions/configure-aws-credentials@v4',
      'aws-actions/amazon-ecr-login@v2',
      `image="$REGISTRY/$ECR_REPOSITORY:\${GITHUB_SHA::12}"`,
      './node_modules/migration-pipeline/actions/release',
    ]);
    expect(release?.steps[3]?.with).toEqual({
      'role-to-assume': `\${{ vars.AWS_ROLE_ARN }}`,
      'aws-region': `\${{ env.AWS_REGION }}`,
    });
    expect(release?.steps[5]?.run).toContain('docker push "$image"');
    expect(release?.steps[5]?.run).toContain('echo "digest=$digest" >> "$GITHUB_OUTPUT"');
    expect(release?.steps[6]?.with).toEqual({
      image: `\${{ steps.image.outputs.uri }}`,
      digest: `\${{ steps.image.outputs.digest }}`,
      stack: `\${{ env.PIPELINE_STACK }}`,
      timeout: '45min',
    });

    const guide = await readFile(join(root, GUIDE), 'utf8');
    expect(guide).toContain(
      '"token.actions.githubusercontent.com:sub": "repo:shop/buffet:ref:refs/heads/main"',
    );
    expect(guide).toContain('"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"');
    for (const permission of [
      'ecr:GetAuthorizationToken',
      'ecr:PutImage',
      'cloudformation:DescribeStacks',
      'states:StartExecution',
      'states:DescribeExecution',
      'states:GetExecutionHistory',
    ]) {
      expect(guide).toContain(`"${permission}"`);
    }
    expect(guide).toContain('"Resource": "arn:aws:ecr:us-east-2:ACCOUNT_ID:repository/init-app-');
    expect(guide).toContain(
      '"Resource": "arn:aws:states:us-east-2:ACCOUNT_ID:execution:STATE_MACHINE_NAME:*"',
    );
  });

  it('a second run changes nothing and says so', async () => {
    const root = await repository({ Dockerfile: 'FROM node:24\nWORKDIR /app\nCOPY . .\n' });
    expect((await init(root)).code).toBe(0);
    const before = await snapshot(root);

    const again = await init(root);
    const asJson = await init(root, '--json');

    expect(again.code, again.stderr).toBe(0);
    expect(await snapshot(root)).toEqual(before);
    expect(again.stdout).toContain(`${WORKFLOW} is up to date.`);
    expect(again.stdout).toContain(`${GUIDE} is up to date.`);
    expect(again.stdout).toContain('Nothing changed: everything init writes is in place.');
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      changed: false,
      migrations: { dir: 'migrations', outcome: 'existing', count: 0 },
      dockerfile: { outcome: 'carries', imagePath: '/app/migrations', evidence: 'COPY . .' },
      files: [
        { path: WORKFLOW, outcome: 'up-to-date' },
        { path: GUIDE, outcome: 'up-to-date' },
      ],
    });
  });

  it('--dry-run lists what it would write and writes nothing', async () => {
    const root = await repository({ Dockerfile: 'FROM python:3.13\nCOPY app/ /srv/app/\n' });
    const before = await snapshot(root);

    const { code, stdout } = await init(root, '--dry-run');

    expect(code).toBe(0);
    expect(await snapshot(root)).toEqual(before);
    expect(stdout).toContain('Would create migrations/');
    expect(stdout).toContain(`Would create ${WORKFLOW}`);
    expect(stdout).toContain('    COPY migrations/ /app/migrations/');
    expect(stdout).toContain('Dry run: nothing was written.');
  });

  it('finds an existing Prisma folder, and points the Dockerfile, the workflow and check at it', async () => {
    const root = await repository({
      'prisma/schema.prisma': 'datasource db { provider = "postgresql" }\n',
      'prisma/migrations/migration_lock.toml': 'provider = "postgresql"\n',
      'prisma/migrations/20250101000000_init/migration.sql':
        'CREATE TABLE "User" ("id" SERIAL PRIMARY KEY);\n',
      'prisma/migrations/20250102000000_email/migration.sql': 'ALTER TABLE "User" ADD COLUMN "email" TEXT;\n',
    });

    const { code, stdout, stderr } = await init(root);

    expect(code, stderr).toBe(0);
    expect(stdout).toContain('Migrations: prisma/migrations/, Prisma Migrate (');
    expect(stdout).toContain('2 migration(s)');
    expect(stdout).toContain('    COPY prisma/migrations/ /app/migrations/');
    await expect(stat(join(root, 'migrations'))).rejects.toThrow('ENOENT');
    expect((await workflowOf(root)).jobs.check?.steps[3]?.with).toMatchObject({ dir: 'prisma/migrations' });
  });

  describe('an existing Dockerfile', () => {
    const DOCKERFILE =
      'FROM node:24 AS build\nCOPY . /src\n\nFROM node:24-slim\nWORKDIR /srv\nCOPY --from=build /src/dist ./dist\nCMD ["node", "dist/server.js"]';

    it('is left untouched without --yes, the lines printed; --yes appends them; then it carries them', async () => {
      const root = await repository({
        Dockerfile: DOCKERFILE,
        'migrations/001-users.sql': '-- migrate:up\nselect 1;\n',
      });

      const asked = await init(root);
      expect(asked.code, asked.stderr).toBe(0);
      expect(await readFile(join(root, 'Dockerfile'), 'utf8')).toBe(DOCKERFILE);
      expect(asked.stdout).toContain(
        'Dockerfile does not carry the migrations in the image. Add these lines (left unchanged; init --yes appends them):\n' +
          '    # Releases read the migrations from the image (migration-pipeline).\n' +
          '    COPY migrations/ /app/migrations/\n',
      );

      const appended = await init(root, '--yes');
      expect(appended.code, appended.stderr).toBe(0);
      expect(await readFile(join(root, 'Dockerfile'), 'utf8')).toBe(
        `${DOCKERFILE}\n\n# Releases read the migrations from the image (migration-pipeline).\nCOPY migrations/ /app/migrations/\n`,
      );
      expect(appended.stdout).toContain('Appended to Dockerfile:');

      const after = await init(root);
      expect(after.stdout).toContain(
        'Dockerfile already carries the migrations to /app/migrations: COPY migrations/ /app/migrations/',
      );
      expect(after.stdout).toContain('Nothing changed: everything init writes is in place.');
    });

    it('copying the migrations elsewhere: the label that names where, not a second copy', async () => {
      const root = await repository({
        Dockerfile: 'FROM ruby:3.4\nWORKDIR /rails\nCOPY . .\n',
        'db/migrations/001-users.sql': '-- migrate:up\nselect 1;\n',
      });

      const { stdout } = await init(root, '--yes');

      expect(stdout).toContain('    LABEL io.migration-pipeline.migrations=/rails/db/migrations');
      expect(await readFile(join(root, 'Dockerfile'), 'utf8')).toMatch(
        /COPY \. \.\n\n# Releases read .*\nLABEL io\.migration-pipeline\.migrations=\/rails\/db\/migrations\n$/,
      );
      expect((await init(root)).stdout).toContain(
        'Dockerfile already carries the migrations to /rails/db/migrations: LABEL io.migration-pipeline.migrations=/rails/db/migrations',
      );
    });

    it('at a terminal: shows the lines and asks; no keeps the file, yes appends', async () => {
      const root = await repository({ Dockerfile: DOCKERFILE });
      const atTerminal = async (answer: boolean) => {
        let shown = '';
        const questions: string[] = [];
        const io: CliIo = {
          stdout: () => {},
          stderr: (text) => {
            shown += text;
          },
          env: {},
          cwd: root,
          tty: true,
          confirm: async (question) => {
            questions.push(question);
            return answer;
          },
        };
        expect(await main(['init'], io)).toBe(0);
        return { shown, questions };
      };

      const no = await atTerminal(false);
      expect(no.questions).toEqual(['Append these lines to Dockerfile?']);
      expect(no.shown).toContain('    COPY migrations/ /app/migrations/');
      expect(await readFile(join(root, 'Dockerfile'), 'utf8')).toBe(DOCKERFILE);

      await atTerminal(true);
      expect(await readFile(join(root, 'Dockerfile'), 'utf8')).toContain(
        '\nCOPY migrations/ /app/migrations/\n',
      );
    });
  });

  it('a workflow of its own is kept unless --yes replaces it', async () => {
    const root = await repository({ [WORKFLOW]: 'name: ours\non: push\njobs: {}\n' });

    const kept = await init(root);
    expect(kept.stdout).toContain(
      `${WORKFLOW} exists and differs from what init writes: left unchanged (init --yes replaces it).`,
    );
    expect(await readFile(join(root, WORKFLOW), 'utf8')).toBe('name: ours\non: push\njobs: {}\n');

    const replaced = await init(root, '--yes');
    expect(replaced.stdout).toContain(`Replaced ${WORKFLOW}`);
    expect((await workflowOf(root)).jobs.release).toBeDefined();
  });

  it('an Alembic project: says its Python migrations are not read, and how to adopt', async () => {
    const root = await repository({
      'alembic.ini': '[alembic]\nscript_location = %(here)s/alembic\n',
      'alembic/env.py': 'from alembic import context\n',
      'alembic/versions/1975ec4fb6e1_create_users.py': 'revision = "1975ec4fb6e1"\n',
    });

    const { code, stdout } = await init(root);

    expect(code).toBe(0);
    expect(stdout).toContain(
      'Alembic project (alembic.ini): its migrations in alembic/versions are Python, which migration-pipeline does not read.',
    );
    expect(stdout).toContain('"migrate baseline --to <it>"');
    expect(stdout).toContain('README, "Migrations from the command line"');
    expect(await readdir(join(root, 'migrations'))).toEqual([]);
  });

  it("Flask-Migrate's Alembic in migrations/: the new folder goes beside it", async () => {
    const root = await repository({
      'migrations/alembic.ini': '[alembic]\n',
      'migrations/env.py': 'from alembic import context\n',
      'migrations/versions/1975ec4fb6e1_create_users.py': 'revision = "1975ec4fb6e1"\n',
    });

    const { stdout } = await init(root);

    expect(stdout).toContain('Created db/migrations/');
    expect(stdout).toContain('its migrations in migrations/versions are Python');
    expect(stdout).toContain('    COPY db/migrations/ /app/migrations/');
  });

  it('bad input is a usage error that says what to do, and changes nothing', async () => {
    const root = await repository({
      'migrations/001-a.sql': '-- migrate:up\nselect 1;\n',
      'db/migrations/001-b.sql': '-- migrate:up\nselect 1;\n',
    });
    const before = await snapshot(root);

    const results = await Promise.all([
      init(root),
      init(root, '--dir', '../elsewhere'),
      init(root, '--root', 'nowhere'),
      init(root, '--dir', 'migrations', '--region', 'Ohio'),
      init(root, '--dir', 'migrations', '--yes', '--dry-run'),
      init(root, '--dir', 'migrations', '--stack', 'a', '--state-machine-arn', 'b'),
    ]);

    expect(results.map((result) => result.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(results.map((result) => result.stderr.split('\n')[0])).toEqual([
      'Migrations are in more than one folder: migrations (1), db/migrations (1). Say which one releases carry with --dir.',
      `--dir ../elsewhere is not a folder inside the repository (${root}): the Dockerfile can only copy what is inside it. Give a path relative to --root.`,
      "--root nowhere is not a folder: give the app's repository.",
      '--region must be a region like us-east-2, got "Ohio".',
      'Give --dry-run or --yes, not both.',
      'Give --stack or --state-machine-arn, not both: the workflow starts one pipeline.',
    ]);
    expect(await snapshot(root)).toEqual(before);
  });
});
