import { PipelineError } from '../functions/lib/errors.ts';
import packageJson from '../package.json' with { type: 'json' };
import { checkCommand } from './commands/check.ts';
import { localCommand } from './commands/local.ts';
import { downCommand } from './commands/migrate/down.ts';
import { newCommand } from './commands/migrate/new.ts';
import { statusCommand } from './commands/migrate/status.ts';
import { upCommand } from './commands/migrate/up.ts';
import { verifyCommand } from './commands/migrate/verify.ts';
import { queueCommand } from './commands/queue.ts';
import { redriveCommand } from './commands/redrive.ts';
import { startCommand } from './commands/start.ts';
import { pipelineStatusCommand } from './commands/status.ts';
import { type CliIo, ExitCode, UsageError } from './io.ts';
import { printJson } from './output.ts';

type Command = (argv: string[], io: CliIo) => Promise<number>;

const MIGRATE_COMMANDS: Record<string, Command> = {
  status: statusCommand,
  up: upCommand,
  down: downCommand,
  new: newCommand,
  verify: verifyCommand,
};

const TOP_COMMANDS: Record<string, Command> = {
  start: startCommand,
  status: pipelineStatusCommand,
  redrive: redriveCommand,
  local: localCommand,
  check: checkCommand,
  queue: queueCommand,
};

export const usage = `Usage: migration-pipeline <command> [options]

The pipeline (deployed with SAM; --state-machine-arn, STATE_MACHINE_ARN or --stack NAME):
  start             start a release of an image (--wait to follow it to the end)
  status            recent releases, or one release's states and result
  redrive           redrive a failed release from where it failed
  local             run the real state machine on this machine (what npm start does)

Migrations (DATABASE_URL, or the embedded PostgreSQL when it is not set):
  migrate status    applied (when, how long, by which run) and pending migrations
  migrate up        apply pending migrations (--to NAME, --step N)
  migrate down      revert the newest (--to NAME, --step N, --all, --run RUN_ID)
  migrate new       scaffold the next migration: migrate new add vendors table
  migrate verify    up -> down -> up round trip of every migration on a scratch database
  check             catch unsafe migrations: squawk on what they ran, measured locks and rewrites
  queue             the release queue: who holds the turn, who waits; queue free <execution> ends a turn by hand

Every command takes --help, and --json for one machine-readable JSON document.
Exit status: 0 success, 1 failure (the message says what to do), 2 bad usage, 3 timed out waiting.
`;

/** Runs one command line and returns its exit status; never throws. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    const [group, name, ...rest] = argv;
    if (group === undefined || group === 'help' || group === '--help' || group === '-h') {
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
