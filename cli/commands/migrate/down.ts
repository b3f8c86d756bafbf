import { resolve } from 'node:path';
import { describeTarget } from '../../../functions/lib/db/connection.ts';
import { InvalidInput } from '../../../functions/lib/errors.ts';
import { migrateDown, systemClock } from '../../../functions/lib/migrations/index.ts';
import { COMMON_OPTIONS, parse, positiveInteger, RUN_OPTIONS, settingsFrom, stepCount } from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { NotConfirmed } from '../../errors.ts';
import { type CliIo, ExitCode, UsageError } from '../../io.ts';
import { isLocalDatabase } from '../../localDatabase.ts';
import { retryWhileLockBusy } from '../../lockBusyRetry.ts';
import { printJson } from '../../output.ts';
import { cliRunOptions } from './runSupport.ts';

export const usage = `Usage: migration-pipeline migrate down [--to NAME | --step N | --all | --run RUN_ID] [--dir migrations] [--json]

Reverts applied migrations, newest first, each in its own transaction:
  (no flag)      the newest one
  --to NAME      everything applied after NAME (NAME stays applied)
  --step N       the newest N
  --all          everything (like "alembic downgrade base"); on a database that is not local
                 (localhost, a loopback address or a socket) it asks first at a terminal,
                 and needs --yes elsewhere
  --run RUN_ID   exactly what that run or execution applied (a run that applied nothing fails)
A selection holding a migration without a down (forward-only) is refused whole, nothing reverted
(MigrationsIrreversible, naming it); --to that migration reverts the ones after it.
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
    yes: { type: 'boolean', default: false },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const selectors = [
    values.to !== undefined,
    values.step !== undefined,
    values.all,
    values.run !== undefined,
  ];
  if (selectors.filter(Boolean).length > 1)
    throw new UsageError('Give at most one of --to, --step, --all and --run.');
  if (values.yes && !values.all)
    throw new UsageError('--yes confirms --all; without --all it means nothing.');
  const settings = settingsFrom(values, io.env);
  const step = values.all ? Number.POSITIVE_INFINITY : stepCount(values.step);
  const retries = positiveInteger(values['lock-retries'], 'lock-retries') ?? 0;
  const migrationsDir = resolve(io.cwd, values.dir);
  const options = cliRunOptions(io, { runId: values['run-id'], settings, json: values.json });

  const result = await withCliDatabase(io, async (url) => {
    if (values.all && !values.yes) await confirmRevertingAll(url, io);
    return retryWhileLockBusy(
      () =>
        migrateDown({ ...options, database: url, migrationsDir, to: values.to, step, revertRun: values.run }),
      { retries, io, clock: systemClock },
    );
  });
  // The engine reverts nothing for a run that applied nothing (a release's rollback must succeed
  // then); a person naming such a run has mistyped it, or looks at the wrong database.
  if (values.run !== undefined && result.reverted.length === 0) {
    throw new InvalidInput(
      `--run ${values.run}: no applied migration was applied by that run, so nothing was reverted. ` +
        '"migrate status" shows which run applied each migration (the BY column).',
      { field: 'run' },
    );
  }

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

/** Everything on a database that may be shared: only when a person says so, at the terminal or with --yes. */
async function confirmRevertingAll(url: string, io: CliIo): Promise<void> {
  if (isLocalDatabase(url)) return;
  const target = describeTarget(url);
  if (!io.confirm) {
    throw new UsageError(
      `--all reverts every applied migration of ${target}, which is not a local database, and there is no ` +
        'terminal to confirm on: add --yes to go ahead.',
    );
  }
  if (!(await io.confirm(`Revert every applied migration of ${target} (not a local database)?`))) {
    throw new NotConfirmed('Nothing was reverted.');
  }
}
