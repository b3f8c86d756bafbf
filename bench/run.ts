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
import { measureColdStart } from './coldStart.ts';
import { measureOverhead } from './overhead.ts';
import { measurePipeline } from './pipeline.ts';
import { measureResolveImage } from './resolveImage.ts';
import { measureStall } from './stall.ts';
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
  log('stall under a blocker: ours, then stock ley (about 25 s each)');
  const stallOptions = { rows: 100_000, blockerMs: 20_000, clients: 4 };
  const ours = await measureStall(server.url, 'ours', stallOptions);
  const ley = await measureStall(server.url, 'ley', stallOptions);
  log('overhead of 500 migrations');
  const overhead = await measureOverhead(server.url);
  log('cold start of each bundle');
  const coldStart = await measureColdStart();
  log('the local pipeline run');
  const pipeline = await measurePipeline(server.url, [0, 20]);
  log('resolving a 500 MB image from a loopback registry, cold and warm (about 30 s)');
  const resolved = await measureResolveImage();
  log(`check and squawk alone on the labelled corpus (${CHECK_CORPUS.length} migrations, about 40 s)`);
  const corpusTarget = await freshDatabase(server.url);
  const accuracy = await scoreCorpus(corpusTarget.url, CHECK_CORPUS).finally(() => corpusTarget.drop());

  const stallRatio = ley.worstMs / ours.worstMs;
  const lines = [
    '# Benchmarks',
    '',
    `Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Every figure in a table comes from the same run, side by side.`,
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${round(totalmem() / 2 ** 30, 1)} GiB. ` +
      `Node ${process.versions.node}, PostgreSQL ${server.version} (${serverKind}), ` +
      `ley ${version('ley')}, postgres ${version('postgres')}, esbuild ${version('esbuild')}.`,
    '',
    '## 1. App-query stall while a migration waits behind a long transaction',
    '',
    `A table of ${stallOptions.rows.toLocaleString('en')} rows under a steady read/write load (${stallOptions.clients} clients on loopback), another session holding a transaction open on it for ${stallOptions.blockerMs / 1000} s, and a migration that adds a column starting 1 s into it.`,
    '',
    '| | worst app-query latency | failed app queries | app queries | migration applied after the blocker ended |',
    '| --- | --- | --- | --- | --- |',
    `| stock ley (postgres driver) | ${round(ley.worstMs / 1000)} s | ${ley.failedQueries} | ${ley.queries} | ${round(ley.appliedAfterBlockerMs / 1000)} s |`,
    `| migration-pipeline | ${round(ours.worstMs / 1000)} s | ${ours.failedQueries} | ${ours.queries} | ${round(ours.appliedAfterBlockerMs / 1000)} s |`,
    `| **ratio** | **${round(stallRatio, 1)}× lower** | | | |`,
    '',
    'Stock ley requests the ACCESS EXCLUSIVE lock and waits for it as long as the blocker lives, and every app query on the table queues behind that request.',
    'Ours waits at most `lock_timeout` (100 ms growing to the 1 s cap), rolls back, lets the queue drain, and tries again, so the app stalls at most about the cap; the migration lands within about a second of the blocker ending.',
    '',
    '![App-query latency over time](stall-chart.svg)',
    '',
    'x: when each app query was sent; y: the slowest one sent in that 100 ms, log scale. A gap means every client was still stuck in an earlier query.',
    '',
    '## 2. Overhead per migration',
    '',
    `${overhead.migrations} small migrations (\`create table\`), median of ${overhead.runs} runs, each on a fresh database.`,
    '',
    '| | ms per migration | ratio |',
    '| --- | --- | --- |',
    `| the same SQL as one batch (the floor) | ${round(overhead.floorMsPerMigration)} | 1.00 |`,
    `| stock ley (one transaction for all) | ${round(overhead.leyMsPerMigration)} | ${round(overhead.leyMsPerMigration / overhead.floorMsPerMigration)} |`,
    `| migration-pipeline (a transaction, checksum and history row each) | ${round(overhead.oursMsPerMigration)} | ${round(overhead.oursMsPerMigration / overhead.floorMsPerMigration)} |`,
    '',
    `Ours is **${round(overhead.oursMsPerMigration / overhead.leyMsPerMigration)}×** stock ley and **${round(overhead.oursMsPerMigration / overhead.floorMsPerMigration)}×** the floor.`,
    '',
    '## 3. Cold start',
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
    '## 4. The pipeline, run locally',
    '',
    'The real state machine on aws-local-stepfunctions, every Task on the real handler in-process, deploy as a dry run. Step Functions Standard bills per state transition.',
    '',
    '| pending migrations | wall time | state transitions |',
    '| --- | --- | --- |',
    ...pipeline
      .sort((a, b) => a.pending - b.pending)
      .map((p) => `| ${p.pending} | ${round(p.wallMs, 0)} ms | ${p.stateTransitions} |`),
    '',
    '## 5. Resolving an image: its migrations read from the registry',
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
    '## 6. `check` against squawk alone, on a labelled corpus',
    '',
    `${accuracy.cases} migrations (${accuracy.dangerous} dangerous, ${accuracy.safe} safe) in test/check/corpus.ts, written from PostgreSQL's documentation, strong_migrations, GitLab's migration guide and squawk's rules, each labelled with the lock it takes and whether it rewrites, which test/check/corpus.test.ts verifies on the server. A judge fails a migration when it reports an error; squawk alone runs on the SQL as written (modules are invisible to it).`,
    '',
    '| | recall (dangerous ones failed) | precision (failed ones dangerous) | warnings over the safe ones | right advice |',
    '| --- | --- | --- | --- | --- |',
    `| squawk alone | ${round(accuracy.squawk.recall)} (${accuracy.squawk.caught}/${accuracy.dangerous}) | ${round(accuracy.squawk.precision)} (${accuracy.squawk.caught}/${accuracy.squawk.failed}) | ${accuracy.squawk.safeWarnings} | — |`,
    `| migration-pipeline check | ${round(accuracy.check.recall)} (${accuracy.check.caught}/${accuracy.dangerous}) | ${round(accuracy.check.precision)} (${accuracy.check.caught}/${accuracy.check.failed}) | ${accuracy.check.safeWarnings} | ${accuracy.check.rightAdvice}/${accuracy.check.caught} |`,
    '',
    `check took ${round(accuracy.checkMs / 1000, 1)} s for the ${accuracy.cases} (${round(accuracy.checkMs / accuracy.cases, 0)} ms each: a scratch database, the setup, the migration measured, squawk, the round trip).` +
      (accuracy.check.misses.length + accuracy.check.falseAlarms.length > 0
        ? ` Missed: ${accuracy.check.misses.join(', ') || 'none'}; false alarms: ${accuracy.check.falseAlarms.join(', ') || 'none'}.`
        : ''),
    '',
  ];
  await writeFile(new URL('benchmarks.md', docs), `${lines.join('\n')}\n`);
  await writeFile(new URL('stall-chart.svg', docs), stallChartSvg([ours, ley]));
  log(`wrote docs/benchmarks.md: stall ${round(stallRatio, 1)}x lower than stock ley`);
} finally {
  await server.stop();
}
process.exit(0);
