/**
 * `npm run bench`: measures, side by side in one run, what the project promises, and writes
 * docs/benchmarks.md (with the machine and versions) and docs/stall-chart.svg.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { scoreCorpus } from '../test/check/accuracy.ts';
import { CHECK_CORPUS } from '../test/check/corpus.ts';
import { stallChartSvg } from './chart.ts';
import { measureCheckSpeed } from './checkSpeed.ts';
import { measureCliStart } from './cliStart.ts';
import { measureColdStart } from './coldStart.ts';
import { measureOverhead } from './overhead.ts';
import {
  dbmate,
  graphileMigrate,
  installPeers,
  nodePgMigrate,
  ours,
  PEER_VERSIONS,
  postgrator,
  stockLey,
} from './peers.ts';
import { measurePipeline } from './pipeline.ts';
import { measureResolveImage } from './resolveImage.ts';
import { measureStall, type StallRun } from './stall.ts';
import { benchServer, freshDatabase, round } from './support.ts';

const docs = new URL('../docs/', import.meta.url);
const version = (name: string) =>
  (
    JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;

// Read before the runs: the pipeline benchmark sets DATABASE_URL for the handlers it loads.
const serverKind = process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded, loopback';
const server = await benchServer();
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
try {
  installPeers(log);
  const oursSql = ours('sql');
  const peers = [stockLey(), dbmate(), graphileMigrate(), nodePgMigrate(), postgrator()];
  const stallOptions = { rows: 100_000, blockerMs: 20_000, clients: 4 };
  log('stall under a blocker: the floor, ours (SQL file, ley module), then each peer (about 25 s each)');
  const floorStall = await measureStall(server.url, undefined, stallOptions);
  const stalls = [];
  for (const tool of [oursSql, ours('module'), ...peers])
    stalls.push(await measureStall(server.url, tool, stallOptions));
  const [oursStall, oursModuleStall, ...peerStalls] = stalls as [StallRun, StallRun, ...StallRun[]];
  const bestPeer = [...peerStalls].sort((a, b) => a.worstMs - b.worstMs)[0] as StallRun;
  log('500 migrations applied by each tool, the no-op and the status after');
  const overhead = await measureOverhead(server.url, [oursSql, ...peers]);
  log('CLI start: --help and a status on nothing');
  const cliStart = await measureCliStart(server.url, [oursSql, ...peers]);
  log('cold start of each bundle');
  const coldStart = await measureColdStart();
  log('the local pipeline run');
  const pipeline = await measurePipeline(server.url, [0, 20]);
  log('resolving a 500 MB image from a loopback registry, cold and warm (about 30 s)');
  const resolved = await measureResolveImage();
  log(`check and squawk alone on the labelled corpus (${CHECK_CORPUS.length} migrations, about 40 s)`);
  const corpusTarget = await freshDatabase(server.url);
  const accuracy = await scoreCorpus(corpusTarget.url, CHECK_CORPUS).finally(() => corpusTarget.drop());
  log('check on a folder of 50 migrations, from the CLI');
  const checkSpeed = await measureCheckSpeed(server.url);

  const timingsOf = (label: string) => overhead.tools.find((t) => t.tool === label);
  const oursTimings = timingsOf(oursSql.label) as (typeof overhead.tools)[number];
  const dbmateTimings = timingsOf(peers[1]?.label ?? '') as (typeof overhead.tools)[number];
  const oursCli = cliStart.find((c) => c.tool === oursSql.label) as (typeof cliStart)[number];
  const leyCli = cliStart.find((c) => c.tool === peers[0]?.label) as (typeof cliStart)[number];
  const dbmateCli = cliStart.find((c) => c.tool === peers[1]?.label) as (typeof cliStart)[number];
  const ms = (value: number | undefined) =>
    value === undefined ? '—' : `${round(value, value < 10 ? 1 : 0)} ms`;
  const stallRow = (run: StallRun) =>
    `| ${run.tool} | ${round(run.worstMs / 1000, 2)} s | ${round(run.slowClientSeconds, 1)} | ${run.failedQueries} | ${round(run.throughputQps, 0)} q/s | ${run.tool.startsWith('no migration') ? '—' : `${round(run.appliedAfterBlockerMs / 1000, 2)} s`} |`;
  const lines = [
    '# Benchmarks',
    '',
    `Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Every figure in a table comes from the same run, side by side.`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${round(totalmem() / 2 ** 30, 1)} GiB. ` +
      `Node ${process.versions.node}, PostgreSQL ${server.version} (${serverKind}), ` +
      `ley ${version('ley')}, postgres ${version('postgres')}, esbuild ${version('esbuild')}. ` +
      `Peers, installed for the benchmark only (node_modules/.cache/migration-pipeline-bench): ${Object.entries(
        PEER_VERSIONS,
      )
        .map(([name, v]) => `${name} ${v}`)
        .join(', ')}. Every tool runs from its own CLI on its own folder layout, as its users run it.`,
    '',
    '## 1. App-query stall while a migration waits behind a long transaction',
    '',
    `A table of ${stallOptions.rows.toLocaleString('en')} rows under a steady read/write load (${stallOptions.clients} clients on loopback), another session holding a transaction open on it for ${stallOptions.blockerMs / 1000} s (it read the table: ACCESS SHARE), and a migration that adds a column, started 1 s into it. The floor runs the same load and blocker without a migration.`,
    '',
    '| | worst app query | client-seconds in queries > 100 ms | failed app queries | app throughput while blocked | migration applied after the blocker ended |',
    '| --- | --- | --- | --- | --- | --- |',
    stallRow(floorStall),
    stallRow(oursStall),
    stallRow(oursModuleStall),
    ...peerStalls.map(stallRow),
    '',
    `Ours: worst app query **${round(oursStall.worstMs / floorStall.worstMs, 1)}×** the floor (target: within 4× the floor or 150 ms, whichever is larger: ${round(Math.max(4 * floorStall.worstMs, 150), 0)} ms), ` +
      `**${round(oursStall.slowClientSeconds, 1)}** client-seconds in slow queries (target at most 3; the best peer, ${bestPeer.tool}: ${round(bestPeer.slowClientSeconds, 1)}), ` +
      `**${round(oursStall.throughputQps / floorStall.throughputQps, 2)}×** the floor's throughput, applied ${round(oursStall.appliedAfterBlockerMs / 1000, 2)} s after the blocker ended (target within 1 s).`,
    '',
    "Every peer asks for ACCESS EXCLUSIVE at once and waits as long as the blocker lives, and every app query on the table queues behind that request. Ours reads `pg_locks` for the tables the migration will lock and asks for nothing while an older transaction holds a conflicting lock; when they are free it asks under a short lock_timeout (the guard against a transaction that began meanwhile). A SQL migration's tables are known from its statements; a module's are learned from the statement its first lock timeout stopped (one wait of at most the first lock_timeout, 100 ms).",
    '',
    '![App-query latency over time](stall-chart.svg)',
    '',
    'x: when each app query was sent; y: the slowest one sent in that 100 ms, log scale. A gap means every client was still stuck in an earlier query.',
    '',
    '## 2. Overhead per migration, the no-op and the status',
    '',
    `${overhead.migrations} small migrations (\`create table\`) applied by each tool's CLI (process start included), median of ${overhead.runs} runs, each on a fresh database; then, with all ${overhead.migrations} applied, \`up\` again (nothing to do) and the status, median of 5.`,
    '',
    '| | ms per migration | ratio to dbmate | no-op `up`, 500 applied | status, 500 applied |',
    '| --- | --- | --- | --- | --- |',
    `| the same SQL as one batch (the floor) | ${round(overhead.floorMsPerMigration)} | ${round(overhead.floorMsPerMigration / dbmateTimings.msPerMigration)} | — | — |`,
    ...overhead.tools.map(
      (t) =>
        `| ${t.tool} | ${round(t.msPerMigration)} | ${round(t.msPerMigration / dbmateTimings.msPerMigration)} | ${ms(t.noOpMs)} | ${ms(t.statusMs)} |`,
    ),
    '',
    `Ours keeps a transaction, its timeouts, a checksum and a history row per migration, and checks the session and the lock around each: **${round(oursTimings.msPerMigration / dbmateTimings.msPerMigration)}×** dbmate per migration (target 1.2×), ` +
      `no-op **${round(oursTimings.noOpMs / dbmateTimings.noOpMs, 1)}×** and status **${round((oursTimings.statusMs ?? 0) / (dbmateTimings.statusMs ?? 1), 1)}×** dbmate (target 3×; a Node process alone takes about 40 ms to start here, dbmate is a Go binary).`,
    '',
    '## 3. How fast the CLI answers',
    '',
    'Median of 11 runs: `--help`, and the status on an empty database with an empty folder.',
    '',
    '| | `--help` | status on nothing |',
    '| --- | --- | --- |',
    ...cliStart.map((c) => `| ${c.tool} | ${ms(c.helpMs)} | ${ms(c.statusOnNothingMs)} |`),
    '',
    `Ours: \`--help\` **${round(oursCli.helpMs / leyCli.helpMs, 1)}×** ley's, status on nothing **${round((oursCli.statusOnNothingMs ?? 0) / leyCli.helpMs, 1)}×** ley's \`--help\` (target 2×), ${round((oursCli.statusOnNothingMs ?? 0) / (dbmateCli.statusOnNothingMs ?? 1), 1)}× dbmate's status. Each command's code is a chunk of its own, imported when the command runs: \`--help\` parses no AWS SDK, no squawk wrapper, no state machine.`,
    '',
    '## 4. Cold start',
    '',
    'Bundle size and median time for a fresh Node process to import the handler module (11 runs each).',
    '',
    '| function | as deployed: minified, tree-shaken, SDK inside | import | unminified, no tree-shaking, SDK external | import |',
    '| --- | --- | --- | --- | --- |',
    ...coldStart.map(
      (c) =>
        `| ${c.function} | ${round(c.bundledBytes / 1024, 0)} KiB | ${round(c.bundledImportMs, 0)} ms | ${round(c.externalBytes / 1024, 0)} KiB | ${round(c.externalImportMs, 0)} ms |`,
    ),
    '',
    'The template deploys the first: one file to read and parse, and the SDK version we test with, instead of resolving hundreds of SDK files from the runtime at cold start.',
    '',
    '## 5. The pipeline, run locally',
    '',
    'The real state machine on aws-local-stepfunctions, every Task on the real handler in-process, deploy as a dry run. Step Functions Standard bills per state transition.',
    '',
    '| pending migrations | wall time | state transitions |',
    '| --- | --- | --- |',
    ...pipeline
      .sort((a, b) => a.pending - b.pending)
      .map((p) => `| ${p.pending} | ${round(p.wallMs, 0)} ms | ${p.stateTransitions} |`),
    '',
    '## 6. Resolving an image: its migrations read from the registry',
    '',
    `The resolve step's read of an image of ${round(resolved.imageBytes / 2 ** 20, 0)} MiB in ${resolved.layers} layers (base layers of incompressible data, gzip level 1; ${resolved.migrations} migrations in the top layer) from a loopback docker-registry. Cold: an empty layer cache, every layer downloaded, checked and scanned. Warm: the next release's image, sharing the base layers, with one more migration in a new layer.`,
    '',
    '| | time |',
    '| --- | --- |',
    `| cold | ${round(resolved.coldMs / 1000, 2)} s |`,
    `| warm | ${round(resolved.warmMs, 0)} ms |`,
    `| **ratio** | **${round(resolved.coldMs / resolved.warmMs, 0)}× faster warm** |`,
    '',
    'Layers are immutable by digest: what each holds under the migrations path is remembered, so only new layers are downloaded.',
    '',
    '## 7. `check` against squawk alone, on a labelled corpus',
    '',
    `${accuracy.cases} migrations (${accuracy.dangerous} dangerous, ${accuracy.safe} safe) in test/check/corpus.ts, written from PostgreSQL's documentation, strong_migrations, GitLab's migration guide and squawk's rules, each labelled with the lock it takes and whether it rewrites, which test/check/corpus.test.ts verifies on the server. A judge fails a migration when it reports an error; squawk alone runs on the SQL as written (modules are invisible to it).`,
    '',
    '| | recall (dangerous ones failed) | precision (failed ones dangerous) | warnings over the safe ones | right advice |',
    '| --- | --- | --- | --- | --- |',
    `| squawk alone | ${round(accuracy.squawk.recall)} (${accuracy.squawk.caught}/${accuracy.dangerous}) | ${round(accuracy.squawk.precision)} (${accuracy.squawk.caught}/${accuracy.squawk.failed}) | ${accuracy.squawk.safeWarnings} | — |`,
    `| migration-pipeline check | ${round(accuracy.check.recall)} (${accuracy.check.caught}/${accuracy.dangerous}) | ${round(accuracy.check.precision)} (${accuracy.check.caught}/${accuracy.check.failed}) | ${accuracy.check.safeWarnings} | ${accuracy.check.rightAdvice}/${accuracy.check.caught} |`,
    '',
    `check took ${round(accuracy.checkMs / 1000, 1)} s for the ${accuracy.cases} (${round(accuracy.checkMs / accuracy.cases, 0)} ms each: a scratch database, the setup, the migration measured, squawk, the round trip). ` +
      `From the CLI, on a folder of ${checkSpeed.migrations} migrations (tables, columns, foreign keys, comments): ${round(checkSpeed.ms / 1000, 1)} s (target under 15 s).` +
      (accuracy.check.misses.length + accuracy.check.falseAlarms.length > 0
        ? ` Missed: ${accuracy.check.misses.join(', ') || 'none'}; false alarms: ${accuracy.check.falseAlarms.join(', ') || 'none'}.`
        : ''),
    '',
  ];
  await writeFile(new URL('benchmarks.md', docs), `${lines.join('\n')}\n`);
  await writeFile(new URL('stall-chart.svg', docs), stallChartSvg([floorStall, oursStall, bestPeer]));
  log(
    `wrote docs/benchmarks.md: worst app query ${round(oursStall.worstMs)} ms (floor ${round(floorStall.worstMs)} ms)`,
  );
} finally {
  await server.stop();
}
process.exit(0);
