import { resolve } from 'node:path';
import { connect, describeTarget } from '../../../functions/lib/db/connection.ts';
import { readMigrationsFolder } from '../../../functions/lib/migrations/formats/detect.ts';
import { readToolHistory } from '../../../functions/lib/migrations/formats/toolHistory.ts';
import { migrateBaseline, systemClock } from '../../../functions/lib/migrations/index.ts';
import { COMMON_OPTIONS, parse, positiveInteger, RUN_OPTIONS, settingsFrom } from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { NotConfirmed } from '../../errors.ts';
import { type CliIo, ExitCode, UsageError } from '../../io.ts';
import { retryWhileLockBusy } from '../../lockBusyRetry.ts';
import { printJson } from '../../output.ts';
import { cliRunOptions } from './runSupport.ts';

export const usage = `Usage: migration-pipeline migrate baseline --to NAME [--dry-run] [--yes] [--dir migrations] [--json]

Adopts a database that another tool (or a person) built: records the migrations up to and including
NAME as applied, with their checksums, without running them; "migrate up" then applies only what
follows. Refused when the history already has rows. It lists what it would record, then asks at a
terminal (elsewhere it needs --yes); --dry-run only lists. Without --to, it reads the history table
of the tool whose folder this is (Flyway, Prisma, golang-migrate, dbmate, Drizzle, ley) and names
the migration to give.
`;

export async function baselineCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    ...COMMON_OPTIONS,
    ...RUN_OPTIONS,
    to: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  if (values.yes && values['dry-run']) throw new UsageError('Give --dry-run or --yes, not both.');
  const settings = settingsFrom(values, io.env);
  const retries = positiveInteger(values['lock-retries'], 'lock-retries') ?? 0;
  const migrationsDir = resolve(io.cwd, values.dir);
  if (values.to === undefined) {
    // Only a hint: a folder or a history that cannot be read leaves the plain request.
    const suggestion = await withCliDatabase(io, (url) => suggestBaseline(url, migrationsDir)).catch(
      () => 'Run "migrate status" to see the names.',
    );
    throw new UsageError(`Give --to NAME: the newest migration the database already has. ${suggestion}`);
  }
  const options = cliRunOptions(io, { runId: values['run-id'], settings, json: values.json });
  const baseline = (url: string, dryRun: boolean) =>
    retryWhileLockBusy(
      () => migrateBaseline({ ...options, database: url, migrationsDir, to: values.to as string, dryRun }),
      { retries, io, clock: systemClock },
    );

  const result = await withCliDatabase(io, async (url) => {
    const plan = await baseline(url, true);
    if (values['dry-run']) return plan;
    if (!values.json) {
      io.stdout(
        `Would record as applied, without running them (${plan.recorded.length}):\n${plan.recorded.map((name) => `  ${name}\n`).join('')}`,
      );
    }
    if (!values.yes) await confirm(url, plan.recorded.length, io);
    return baseline(url, false);
  });

  if (values.json) printJson(io, { recorded: result.recorded, runId: result.runId, dryRun: result.dryRun });
  else if (result.dryRun) {
    io.stdout(
      `Would record as applied, without running them (${result.recorded.length}):\n${result.recorded.map((name) => `  ${name}\n`).join('')}`,
    );
  } else {
    io.stdout(
      `Recorded ${result.recorded.length} migration(s) as applied by run ${result.runId}; "migrate up" applies what follows.\n`,
    );
  }
  return ExitCode.ok;
}

/** What the other tool's own history says the database has, as the --to to give; or where to look. */
async function suggestBaseline(url: string, migrationsDir: string): Promise<string> {
  const { format, files } = await readMigrationsFolder(migrationsDir);
  const sql = await connect(url);
  try {
    const history = await readToolHistory(sql, format, files);
    if (!history) return 'Run "migrate status" to see the names.';
    if (history.problem) return `Its ${history.table} cannot be trusted yet: ${history.problem}.`;
    if (!history.newest) {
      return `Its ${history.table} names no migration of this folder as applied; run "migrate status" to see the names.`;
    }
    return `Its ${history.table} says the newest applied is ${history.newest}: "migrate baseline --to ${history.newest}".`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Recording a history is a statement about a real database: a person says yes, at the terminal or with --yes. */
async function confirm(url: string, count: number, io: CliIo): Promise<void> {
  const target = describeTarget(url);
  if (!io.confirm) {
    throw new UsageError(
      `baseline records ${count} migration(s) of ${target} as applied without running them, and there is no ` +
        'terminal to confirm on: add --yes to go ahead (or --dry-run to only list them).',
    );
  }
  if (!(await io.confirm(`Record these ${count} migration(s) as applied in ${target}?`))) {
    throw new NotConfirmed('Nothing was recorded.');
  }
}
