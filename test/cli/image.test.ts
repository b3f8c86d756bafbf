import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type LayerSpec, pushImage } from '../support/imageLayout.ts';
import {
  ENABLE_REGISTRY_TESTS,
  type Registry,
  registryToolsAvailable,
  startRegistry,
} from '../support/registry.ts';

const available = registryToolsAvailable();
const title = `the CLI reading migrations from an image${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

const sql = (table: string) =>
  `-- migrate:up\ncreate table ${table} (id int);\n-- migrate:down\ndrop table ${table};\n`;
const V1: LayerSpec = {
  files: { 'app/migrations/001-a.sql': sql('a'), 'app/migrations/002-b.sql': sql('b') },
};
const V2: LayerSpec = { files: { 'app/migrations/003-c.sql': sql('c') } };

describe.skipIf(!available)(title, () => {
  let registry: Registry;
  let db: TestDatabase;
  let cwd: string;
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(registry.host, 'app', 'v1', { layers: [V1] });
    await pushImage(registry.host, 'app', 'v2', { layers: [V1, V2] });
  });
  afterAll(async () => {
    await registry?.stop();
  });
  beforeEach(async () => {
    db = await createTestDatabase();
    cwd = await mkdtemp(join(tmpdir(), 'cli-image-'));
  });
  afterEach(async () => {
    await db.drop();
  });

  const cli = (...args: string[]) =>
    runCliProcess(args, {
      cwd,
      variables: { DATABASE_URL: db.url, DATABASE_TLS: 'disable', XDG_CACHE_HOME: join(cwd, 'cache') },
    });

  it('migrate status and up --image answer what the image would apply, and apply exactly it', async () => {
    const before = await cli('migrate', 'status', '--image', `${registry.host}/app:v2`, '--json');
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({
      applied: [],
      pending: [{ name: '001-a.sql' }, { name: '002-b.sql' }, { name: '003-c.sql' }],
    });

    const up = await cli('migrate', 'up', '--image', `${registry.host}/app:v2`);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(new RegExp(`Image: ${registry.host}/app@sha256:[a-f0-9]{64}`));
    expect(await db.sql`select name from migration_pipeline_history order by id`).toEqual([
      { name: '001-a.sql' },
      { name: '002-b.sql' },
      { name: '003-c.sql' },
    ]);

    const older = await cli('migrate', 'status', '--image', `${registry.host}/app:v1`);
    expect(older.code, older.stdout).toBe(0);
    expect(older.stdout).toContain('The schema is 1 migration(s) ahead of this image (003-c.sql)');
  });

  it('npm start --image runs the local release from the image in its registry', async () => {
    const run = await promisify(execFile)(
      'npm',
      ['start', '--silent', '--', '--image', `${registry.host}/app:v1`, '--json'],
      {
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          DATABASE_TLS: 'disable',
          APP_RUNNER_SERVICE_ARN: '',
          GITHUB_ACTIONS: '',
        },
      },
    ).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await db.sql`select name from migration_pipeline_history order by id`).toEqual([
      { name: '001-a.sql' },
      { name: '002-b.sql' },
    ]);
  });

  it('refuses --image with --dir, and names an image the registry does not have', async () => {
    const both = await cli('migrate', 'status', '--image', `${registry.host}/app:v1`, '--dir', 'migrations');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('Give --image or --dir, not both');

    const missing = await cli('migrate', 'status', '--image', `${registry.host}/app:v9`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ImageNotFound');
  });
});
