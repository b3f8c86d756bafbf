import {
  AppRunnerClient,
  DescribeServiceCommand,
  ListOperationsCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-apprunner';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { compareSnapshots, snapshotSchema } from '../../cli/migrations/schemaSnapshot.ts';
import { describeService, operation } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { PRISMA_FOLDER, PRISMA_NAMES } from '../support/foreignFolders.ts';
import { type LayerSpec, pushImage } from '../support/imageLayout.ts';
import { directDatabase, type LoadedPipeline, loadPipeline, runExecution } from '../support/pipeline.ts';
import {
  ENABLE_REGISTRY_TESTS,
  type Registry,
  registryToolsAvailable,
  startRegistry,
} from '../support/registry.ts';

const appRunner = mockClient(AppRunnerClient);
const available = registryToolsAvailable();
const title = `a release is an image: the real ASL and handlers, images in a real registry${available ? '' : ` (SKIPPED: run ${ENABLE_REGISTRY_TESTS})`}`;

const table = (name: string) =>
  `export async function up(sql) { await sql\`create table ${name} (id int)\`; }\nexport async function down(sql) { await sql\`drop table ${name}\`; }\n`;
const BASE: LayerSpec = { files: { 'etc/os-release': 'ID=test\n', 'app/server.js': 'console.log(1)\n' } };
const V1: LayerSpec = {
  files: { 'app/migrations/001-a.mjs': table('a'), 'app/migrations/002-b.mjs': table('b') },
};
const V2: LayerSpec = { compression: 'zstd', files: { 'app/migrations/003-c.mjs': table('c') } };

describe.skipIf(!available)(title, () => {
  let registry: Registry;
  let db: TestDatabase;
  let pipeline: LoadedPipeline;
  let repository: string;
  let images = 0;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });
  beforeEach(async () => {
    db = await createTestDatabase();
    repository = `${registry.host}/app${++images}`;
    appRunner.reset();
    appRunner.on(DescribeServiceCommand).resolves(describeService());
    appRunner.on(UpdateServiceCommand).resolves({ ...describeService(), OperationId: 'op-1' });
    appRunner.on(ListOperationsCommand).resolves({ OperationSummaryList: [operation('op-1', 'SUCCEEDED')] });
    // No MIGRATIONS_DIR: ResolveImage is the real handler, reading the image from the registry.
    pipeline = await loadPipeline({ ...directDatabase(db.url), ECR_REPOSITORY_URI: repository });
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  const push = (tag: string, ...layers: LayerSpec[]) =>
    pushImage(registry.host, repository.slice(registry.host.length + 1), tag, { layers });
  const release = (tag: string) =>
    runExecution(pipeline.handlers, { image: { uri: `${repository}:${tag}` }, source: 'ci' });
  const history = async () =>
    (await db.sql<{ name: string }[]>`select name from migration_pipeline_history order by id`).map(
      (r) => r.name,
    );
  const deployed = () =>
    appRunner
      .commandCalls(UpdateServiceCommand)
      .map((call) => call.args[0].input.SourceConfiguration?.ImageRepository?.ImageIdentifier);

  it("applies exactly the image's migrations and deploys exactly its digest", async () => {
    const v1 = await push('v1', BASE, V1);
    const first = await release('v1');
    expect(first.error).toBeUndefined();
    expect(await history()).toEqual(['001-a.mjs', '002-b.mjs']);

    const v2 = await push('v2', BASE, V1, V2);
    const second = await release('v2');
    expect(second.error).toBeUndefined();
    expect(second.output).toMatchObject({ migrations: { applied: ['003-c.mjs'] } });
    expect(await history()).toEqual(['001-a.mjs', '002-b.mjs', '003-c.mjs']);
    expect(deployed()).toEqual([`${repository}@${v1}`, `${repository}@${v2}`]);
  });

  it('releases an older image without touching the schema', async () => {
    await push('v1', BASE, V1);
    await push('v2', BASE, V1, V2);
    expect((await release('v2')).error).toBeUndefined();
    const before = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });

    const rollback = await release('v1');

    expect(rollback.error).toBeUndefined();
    expect(rollback.output).toMatchObject({ migrations: { applied: [], pending: [] } });
    const after = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    expect(compareSnapshots(before, after).differences).toEqual([]);
    expect(await history()).toEqual(['001-a.mjs', '002-b.mjs', '003-c.mjs']);
  });

  it('fails before anything changes when the image and the history disagree, or the image has no migrations', async () => {
    await push('v1', BASE, V1);
    expect((await release('v1')).error).toBeUndefined();
    const before = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    appRunner.resetHistory();

    // 002 edited after it was applied, in an upper layer: drift.
    await push('edited', BASE, V1, { files: { 'app/migrations/002-b.mjs': table('b2') } });
    const drift = await release('edited');
    expect(drift.error?.name).toBe('MigrationDrift');
    expect(drift.entered.slice(0, 2)).toEqual(['ResolveImage', 'CheckConnectivity']);

    // 001 deleted by a whiteout: a gap in the history.
    await push('gap', BASE, V1, V2, { files: { 'app/migrations/.wh.001-a.mjs': '' } });
    expect((await release('gap')).error?.name).toBe('MigrationMissing');

    await push('empty', BASE);
    const empty = await release('empty');
    expect(empty.error?.name).toBe('MigrationsNotFound');
    expect(empty.entered).toEqual(['ResolveImage', 'NotifyFailure', 'TookTurn', 'ReleaseFailed']);

    const after = await snapshotSchema(db.sql, { ignoreTable: 'migration_pipeline_history' });
    expect(compareSnapshots(before, after).differences).toEqual([]);
    expect(await history()).toEqual(['001-a.mjs', '002-b.mjs']);
    expect(appRunner.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('releases a Prisma image: its migration folders, across layers, travel in the bundle and apply by folder name', async () => {
    const inImage = (names: string[]) =>
      Object.fromEntries(names.map((name) => [`app/migrations/${name}`, PRISMA_FOLDER[name] as string]));
    const [init, orders, index] = Object.keys(PRISMA_FOLDER)
      .filter((name) => name.endsWith('/migration.sql'))
      .sort();
    await push(
      'prisma',
      BASE,
      { files: inImage(['migration_lock.toml', init as string, orders as string]) },
      { files: inImage([index as string]) },
    );

    const { error, output } = await release('prisma');

    expect(error).toBeUndefined();
    expect(output).toMatchObject({ migrations: { applied: PRISMA_NAMES } });
    expect(await history()).toEqual(PRISMA_NAMES);
  });

  it('deploys the digest it resolved when the tag moves to another image during the release', async () => {
    const first = await push('moving', BASE, V1);
    const realCheck = pipeline.handlers.connectivityCheck;
    pipeline.handlers.connectivityCheck = async (event, context) => {
      // A push lands between ResolveImage and the rest of the release.
      await push('moving', BASE, V1, V2);
      return realCheck(event, context);
    };

    const { error } = await release('moving');

    expect(error).toBeUndefined();
    expect(deployed()).toEqual([`${repository}@${first}`]);
    expect(await history()).toEqual(['001-a.mjs', '002-b.mjs']);
  });
});
