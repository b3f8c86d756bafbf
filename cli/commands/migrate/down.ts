import { resolve } from 'node:path';
import { migrateDown, systemClock } from '../../../functions/lib/migrations/index.ts';
import { COMMON_OPTIONS, parse, positiveInteger, RUN_OPTIONS, settingsFrom } from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { type CliIo, ExitCode, UsageError } from '../../io.ts';
import { retryWhileLockBusy } from '../../lockBusyRetry.ts';
import { printJson } from '../../output.ts';
import { cliRunOptions } from './runSupport.ts';

export const usage = `Usage: migration-pipeline migrate down [--to NAME | --step N | --all | --run RUN_ID] [--dir migrations] [--json]

Reverts applied migrations, newest first, each in its own transaction:
  (no flag)      the newest one
  --to NAME      everything applied after NAME (NAME stays applied)
  --step N       the newest N
  --all          everything (like "alembic downgrade base")
  --run RUN_ID   exactly what that run or execution applied
Takes the same lock and timeout flags as "migrate up".
`;

export async function downCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    ...COMMON_OPTIONS,
    ...RUN_OPTIONS,
    to: { type: 'string' },
    step: { type: 'string' },
    all: { type: 'boolean', default: false },
    run: { type: 'string' },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const selectors = [values.to !== undefined, values.all, values.run !== undefined].filter(Boolean).length;
  if (selectors > 1) throw new UsageError('Give at most one of --to, --all and --run.');
  const settings = settingsFrom(values, io.env);
  const step = values.all ? Number.POSITIVE_INFINITY : positiveInteger(values.step, 'step');
  const retries = positiveInteger(values['lock-retries'], 'lock-retries') ?? 0;
  const migrationsDir = resolve(io.cwd, values.dir);
  const options = cliRunOptions(io, { runId: values['run-id'], settings, json: values.json });

  const result = await withCliDatabase(io, (url) =>
    retryWhileLockBusy(
      () =>
        migrateDown({ ...options, database: url, migrationsDir, to: values.to, step, revertRun: values.run }),
      { retries, io, clock: systemClock },
    ),
  );

  if (values.json) {
    printJson(io, { reverted: result.reverted, version: result.toVersion });
  } else if (result.reverted.length === 0) {
    io.stdout('Nothing to revert.\n');
  } else {
    io.stdout(
      `Reverted ${result.reverted.length} migration(s); now at ${result.toVersion ?? 'the empty schema'}.\n`,
    );
  }
  return ExitCode.ok;
}
