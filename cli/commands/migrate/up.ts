import { migrateUp, systemClock } from '../../../functions/lib/migrations/index.ts';
import {
  COMMON_OPTIONS,
  dirGiven,
  IMAGE_OPTIONS,
  parse,
  positiveInteger,
  RUN_OPTIONS,
  settingsFrom,
  stepCount,
} from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { migrationsSource } from '../../imageMigrations.ts';
import { type CliIo, ExitCode, UsageError } from '../../io.ts';
import { retryWhileLockBusy } from '../../lockBusyRetry.ts';
import { printJson } from '../../output.ts';
import { cliRunOptions } from './runSupport.ts';

export const usage = `Usage: migration-pipeline migrate up [--to NAME | --step N] [--dir migrations | --image REF] [--json]

Applies the pending migrations in order, each in its own transaction with a short, retried
lock_timeout. --to applies up to and including NAME (with or without extension); --step applies N.
--image REF applies the migrations inside that image, read from its registry, as a release would.

  --run-id ID               recorded as applied_by (default: cli-<time>-<random>)
  --lock-timeout 1s         cap of the escalating lock_timeout (MIGRATION_LOCK_TIMEOUT)
  --lock-timeout-initial 100ms  first lock_timeout (MIGRATION_LOCK_TIMEOUT_INITIAL)
  --lock-retry-budget 90s   how long to keep retrying lock timeouts (MIGRATION_LOCK_RETRY_BUDGET)
  --statement-timeout 10min statement_timeout (MIGRATION_STATEMENT_TIMEOUT)
  --lock-wait 10s           wait for another run's migration lock (MIGRATION_LOCK_WAIT)
  --lock-retries 5          times to wait again, with backoff, while another run migrates
`;

export async function upCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    ...COMMON_OPTIONS,
    ...IMAGE_OPTIONS,
    ...RUN_OPTIONS,
    to: { type: 'string' },
    step: { type: 'string' },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  if (values.to !== undefined && values.step !== undefined) {
    throw new UsageError('Give --to or --step, not both: each says on its own where to stop.');
  }
  const settings = settingsFrom(values, io.env);
  const step = stepCount(values.step);
  const retries = positiveInteger(values['lock-retries'], 'lock-retries') ?? 0;
  const source = await migrationsSource(values, io, dirGiven(argv));
  if (source.image && !values.json) io.stdout(`Image: ${source.image}\n`);
  const options = cliRunOptions(io, { runId: values['run-id'], settings, json: values.json });

  const result = await withCliDatabase(io, (url) =>
    retryWhileLockBusy(
      () =>
        migrateUp({
          ...options,
          database: url,
          migrationsDir: source.dir,
          schemaMayBeAhead: source.image !== undefined,
          to: values.to,
          step,
        }),
      {
        retries,
        io,
        clock: systemClock,
      },
    ),
  );

  if (values.json) {
    printJson(io, { applied: result.applied, pending: result.pending, done: result.done });
  } else if (result.applied.length === 0) {
    io.stdout(`Nothing to apply: the database is at ${result.toVersion ?? 'the empty schema'}.\n`);
  } else {
    io.stdout(
      `Applied ${result.applied.length} migration(s) as run ${result.runId}; now at ${result.toVersion}. ` +
        `${result.pending.length} pending.\n`,
    );
  }
  return ExitCode.ok;
}
