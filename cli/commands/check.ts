import { resolve } from 'node:path';
import { describeTarget } from '../../functions/lib/db/connection.ts';
import { InvalidInput } from '../../functions/lib/errors.ts';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import { parse, settingsFrom } from '../args.ts';
import { type CheckReport, checkMigrations } from '../check/check.ts';
import { firstAddedSince } from '../check/gitBase.ts';
import {
  checkSummaryMarkdown,
  failureAnnotation,
  findingAnnotations,
  locateFindings,
} from '../check/github.ts';
import { readProductionRows } from '../check/productionStats.ts';
import { DEFAULT_SEVERITIES, loadSeverities, OWN_RULES } from '../check/rules.ts';
import { unknownSquawkRules } from '../check/squawk.ts';
import { withCliDatabase } from '../database.ts';
import { appendStepSummary } from '../githubActions.ts';
import { type CliIo, ExitCode, UsageError } from '../io.ts';
import { printJson } from '../output.ts';
import { requireMigrations } from './migrate/runSupport.ts';

export const usage = `Usage: migration-pipeline check [--dir migrations] [--since NAME | --base REF] [--seed FILE] [--rows N] [--stats-from URL|FILE] [--config FILE] [--json | --github]

Catches unsafe migrations before they reach production. For each pending migration (or each after
--since NAME, or each from the first one the branch added since the git ref --base REF), on a scratch database holding the migrations before it (and the --seed data), its
empty tables given N synthetic rows each (--rows, default 10000; 0 for none):
  1. runs it, capturing every statement it sends (TypeScript migrations are checked as they run);
  2. measures, after each statement, the locks it holds on existing tables, the rows it scanned and
     wrote, the tables it rewrote, and how long each lock was held through that work;
  3. lints what it ran with squawk; a finding of squawk's the measurement confirms is merged into
     the measured one, one it disproves is cleared (and said so);
  4. round-trips it: down, then up again, comparing the schema.
A lock that blocks the app, held through a scan, a write of every row or a rewrite, is an error with
advice for that operation; a lock held for an instant is not a finding. --stats-from (a database URL,
read-only, or a JSON file {"orders": 80000000}) scales each measured hold to production's row counts:
one expected within the engine's lock-timeout cap is then a warning.
Exit status 1 when a finding is an error. Set severities per rule (ours: non-concurrent-index,
non-concurrent-reindex, constraint-builds-index, primary-key-sets-not-null, exclusion-constraint,
constraint-validates-rows, set-not-null-scans, column-type-rewrite, add-column-rewrite, table-rewrite,
lock-held-through-work, full-table-write, explicit-lock, refresh-blocks-reads, truncate, vacuum-full,
cluster, drop-column, drop-table, rename-column, rename-table, rename-enum-value, json-column, round-trip;
or squawk's names) to "error", "warning" or "off" in package.json
("migration-pipeline": { "check": { "rules": { ... } } }) or in --config FILE ({ "rules": { ... } }).
--github also prints each finding as a GitHub Actions annotation on its file and line, and appends a
table of the findings to the job summary ($GITHUB_STEP_SUMMARY): what actions/check runs.
`;

export async function checkCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    dir: { type: 'string', default: 'migrations' },
    since: { type: 'string' },
    base: { type: 'string' },
    seed: { type: 'string' },
    rows: { type: 'string' },
    'stats-from': { type: 'string' },
    config: { type: 'string' },
    'history-table': { type: 'string' },
    json: { type: 'boolean', default: false },
    github: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  // Annotations are lines on stdout: they would break the one JSON document --json promises.
  if (values.json && values.github) throw new UsageError('Give --json or --github, not both.');
  let severities: ReturnType<typeof loadSeverities>;
  try {
    severities = loadSeverities(io.cwd, values.config && resolve(io.cwd, values.config));
  } catch (error) {
    if (error instanceof InvalidInput) throw new UsageError(error.message);
    throw error;
  }
  const configured = Object.keys(severities).filter((rule) => !(rule in DEFAULT_SEVERITIES));
  const unknown = await unknownSquawkRules(configured.filter((rule) => !OWN_RULES.includes(rule)));
  if (unknown.length > 0) {
    throw new UsageError(
      `Unknown check rule${unknown.length > 1 ? 's' : ''} ${unknown.map((rule) => `"${rule}"`).join(', ')} in package.json or --config: ` +
        `neither one of check's own (${OWN_RULES.join(', ')}) nor one of squawk's. Fix the name.`,
    );
  }
  const migrationsDir = resolve(io.cwd, values.dir);
  const check = () => runCheck(io, values, migrationsDir, severities);
  const report = values.github ? await annotatingFailure(io, check) : await check();
  if (values.json) {
    // Each finding with the file and line of its statement, where they can be known (as --github annotates).
    const located = await locateFindings(report, { migrationsDir, root: io.cwd });
    const places = new Map(located.map(({ finding, file, line }) => [finding, { file, line }]));
    printJson(io, {
      ...report,
      migrations: report.migrations.map((migration) => ({
        ...migration,
        findings: migration.findings.map((finding) => ({ ...finding, ...places.get(finding) })),
      })),
    });
  } else {
    for (const migration of report.migrations) {
      const errors = migration.findings.filter((f) => f.severity === 'error').length;
      io.stdout(
        `${errors > 0 ? '✗' : '✓'} ${migration.name}${migration.findings.length === 0 ? '' : `  (${errors} error(s), ${migration.findings.length - errors} warning(s))`}\n`,
      );
      for (const finding of migration.findings) {
        io.stdout(`    ${finding.severity.toUpperCase()} ${finding.rule}: ${finding.message}\n`);
        if (finding.statement) io.stdout(`      in: ${finding.statement}\n`);
        if (finding.help) io.stdout(`      safer: ${finding.help}\n`);
      }
      for (const note of migration.cleared) io.stdout(`    ${note}\n`);
      for (const note of migration.synthetic.skipped) io.stdout(`    note: left empty, ${note}\n`);
      if (migration.roundTripSkipped) io.stdout('    note: no down (forward-only): round trip skipped\n');
    }
    io.stdout(
      `\n${report.migrations.length} migration(s) checked: ${report.errors} error(s), ${report.warnings} warning(s).\n`,
    );
  }
  if (values.github) await reportToGithub(io, report, migrationsDir);
  return report.ok ? ExitCode.ok : ExitCode.failed;
}

async function runCheck(
  io: CliIo,
  values: {
    since?: string;
    base?: string;
    seed?: string;
    rows?: string;
    'stats-from'?: string;
    'history-table'?: string;
  },
  migrationsDir: string,
  severities: ReturnType<typeof loadSeverities>,
): Promise<CheckReport> {
  await requireMigrations(migrationsDir);
  if (values.since !== undefined && values.base !== undefined)
    throw new UsageError('Give --since or --base, not both.');
  const from =
    values.base === undefined
      ? undefined
      : await firstAddedSince(values.base, migrationsDir, await listMigrationFiles(migrationsDir));
  if (values.base !== undefined && from === undefined) {
    throw new InvalidInput(
      `--base ${values.base}: the branch adds no migration to ${migrationsDir} since it, so there is nothing to check.`,
      {
        field: 'base',
      },
    );
  }
  const productionRows =
    values['stats-from'] === undefined ? undefined : await readProductionRows(values['stats-from'], io.cwd);
  return withCliDatabase(io, async (url) => {
    const checked = await checkMigrations({
      databaseUrl: url,
      migrationsDir,
      since: values.since,
      ...(from !== undefined ? { from } : {}),
      ...(productionRows ? { productionRows } : {}),
      seedFile: values.seed && resolve(io.cwd, values.seed),
      ...(values.rows !== undefined ? { rows: rowCount(values.rows) } : {}),
      severities,
      settings: settingsFrom(values, io.env),
    });
    if (checked.migrations.length === 0) throw nothingToCheck(values.since, url);
    return checked;
  });
}

/** The annotations on the migrations' files and lines, and the job summary when the runner gives its file. */
async function reportToGithub(io: CliIo, report: CheckReport, migrationsDir: string): Promise<void> {
  const located = await locateFindings(report, { migrationsDir, root: io.cwd });
  io.stdout(findingAnnotations(located));
  await appendStepSummary(io.env, checkSummaryMarkdown(report, located));
}

/** A check that could not finish still shows on the run, not only in its log. */
async function annotatingFailure<T>(io: CliIo, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof Error) io.stdout(failureAnnotation(error));
    throw error;
  }
}

/** A check that judged nothing would pass while proving nothing: it fails, saying what to check instead. */
function nothingToCheck(since: string | undefined, url: string): InvalidInput {
  return since === undefined
    ? new InvalidInput(
        `Every migration in the folder is already applied to ${describeTarget(url)}, so none is pending to check. ` +
          'To check ones applied there, name the migration before them: check --since NAME.',
        { field: 'since' },
      )
    : new InvalidInput(
        `--since ${since}: no migration comes after it, so there is nothing to check. Name an earlier one.`,
        { field: 'since' },
      );
}

function rowCount(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`--rows must be a whole number of rows (0 for none), not "${value}".`);
  }
  return Number(value);
}
