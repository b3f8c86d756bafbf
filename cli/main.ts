import { PipelineError } from '../functions/lib/errors.ts';
import packageJson from '../package.json' with { type: 'json' };
import { type CliIo, ExitCode, UsageError } from './io.ts';
import { printJson } from './output.ts';

type Command = (argv: string[], io: CliIo) => Promise<number>;

/**
 * A command loaded when it runs: `--help` and a `migrate status` do not parse the AWS SDK, squawk's
 * wrapper, the local state machine or the registry reader (the built CLI splits them into chunks).
 */
function lazy(load: () => Promise<Command>): Command {
  return async (argv, io) => (await load())(argv, io);
}

/** The commands that call AWS: their AWS errors are explained (credentials, region, access). */
function lazyAws(load: () => Promise<Command>): Command {
  return lazy(async () => {
    const [command, { withAwsErrorsExplained }] = await Promise.all([load(), import('./awsErrors.ts')]);
    return withAwsErrorsExplained(command);
  });
}

const MIGRATE_COMMANDS: Record<string, Command> = {
  status: lazy(async () => (await import('./commands/migrate/status.ts')).statusCommand),
  up: lazy(async () => (await import('./commands/migrate/up.ts')).upCommand),
  down: lazy(async () => (await import('./commands/migrate/down.ts')).downCommand),
  redo: lazy(async () => (await import('./commands/migrate/redo.ts')).redoCommand),
  baseline: lazy(async () => (await import('./commands/migrate/baseline.ts')).baselineCommand),
  new: lazy(async () => (await import('./commands/migrate/new.ts')).newCommand),
  verify: lazy(async () => (await import('./commands/migrate/verify.ts')).verifyCommand),
};

const TOP_COMMANDS: Record<string, Command> = {
  start: lazyAws(async () => (await import('./commands/start.ts')).startCommand),
  status: lazyAws(async () => (await import('./commands/status.ts')).pipelineStatusCommand),
  redrive: lazyAws(async () => (await import('./commands/redrive.ts')).redriveCommand),
  local: lazy(async () => (await import('./commands/local.ts')).localCommand),
  check: lazy(async () => (await import('./commands/check.ts')).checkCommand),
  queue: lazy(async () => (await import('./commands/queue.ts')).queueCommand),
  init: lazy(async () => (await import('./commands/init.ts')).initCommand),
};

export const usage = `Usage: migration-pipeline <command> [options]

Setting an app's repository up:
  init              the migrations folder, the Dockerfile lines, the CI workflow and its IAM role guide

The pipeline (deployed with SAM; --state-machine-arn, STATE_MACHINE_ARN or --stack NAME):
  start             start a release of an image (--wait to follow it to the end)
  status            recent releases, or one release's states and result
  redrive           redrive a failed release from where it failed
  local             run the real state machine on this machine (what npm start does)

Migrations (DATABASE_URL, or the embedded PostgreSQL when it is not set):
  migrate status    applied (when, how long, by which run) and pending migrations
  migrate up        apply pending migrations (--to NAME, --step N)
  migrate down      revert the newest (--to NAME, --step N, --all, --run RUN_ID)
  migrate redo      revert the newest and apply it again as its file is now (local databases only)
  migrate baseline  adopt a database another tool built: record migrations up to --to NAME without running them
  migrate new       scaffold the next migration: migrate new add vendors table
  migrate verify    up -> down -> up round trip of every migration on a scratch database
  check             catch unsafe migrations: squawk on what they ran, measured locks and rewrites
  queue             the release queue: who holds the turn, who waits; queue free <execution> ends a turn by hand

Every command takes --help, and --json for one machine-readable JSON document.
Exit status: 0 success, 1 failure (the message says what to do), 2 bad usage, 3 timed out waiting.
`;

const migrateUsage = `Usage: migration-pipeline migrate <command> [options]

Migrations of DATABASE_URL, or of the embedded PostgreSQL when it is not set:
  status    applied (when, how long, by which run) and pending migrations
  up        apply pending migrations (--to NAME or --step N)
  down      revert the newest (--to NAME, --step N, --all, --run RUN_ID)
  redo      revert the newest and apply it again as its file is now (local databases only)
  baseline  adopt a database another tool built: record migrations up to --to NAME without running them
  new       scaffold the next migration: migrate new add vendors table
  verify    up -> down -> up round trip of every migration on a scratch database

"migration-pipeline migrate <command> --help" lists a command's flags.
`;

const HELP = new Set(['help', '--help', '-h']);

/** Runs one command line and returns its exit status; never throws. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    const [group, name, ...rest] = argv;
    if (group === undefined || HELP.has(group)) {
      io.stdout(usage);
      return group === undefined ? ExitCode.usage : ExitCode.ok;
    }
    if (group === '--version') {
      io.stdout(`${packageJson.version}\n`);
      return ExitCode.ok;
    }
    const command = TOP_COMMANDS[group];
    if (command) return await command(name === undefined ? [] : [name, ...rest], io);
    if (group !== 'migrate') throw new UsageError(`Unknown command "${group}".`);
    if (name !== undefined && HELP.has(name)) {
      io.stdout(migrateUsage);
      return ExitCode.ok;
    }
    const migrateCommand = name === undefined ? undefined : MIGRATE_COMMANDS[name];
    if (!migrateCommand) {
      throw new UsageError(
        `${name === undefined ? 'Missing' : `Unknown`} migrate command${name ? ` "${name}"` : ''}; one of ${Object.keys(MIGRATE_COMMANDS).join(', ')}.`,
      );
    }
    return await migrateCommand(rest, io);
  } catch (error) {
    return report(error, io, json);
  }
}

function report(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof UsageError) {
    // A script that asked for JSON reads the error where it reads the rest: one document on stdout.
    if (json) printJson(io, { error: { name: error.name, message: error.message } });
    io.stderr(`${error.message}\nRun "migration-pipeline --help" for usage.\n`);
    return ExitCode.usage;
  }
  const named = error instanceof PipelineError ? error.toJSON() : undefined;
  const name = named?.name ?? (error as Error)?.name ?? 'Error';
  const message = (error as Error)?.message ?? String(error);
  if (json) printJson(io, { error: named ?? { name, message } });
  io.stderr(`${name}: ${message}\n`);
  return ExitCode.failed;
}
