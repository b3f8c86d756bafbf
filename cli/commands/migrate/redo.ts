import { resolve } from 'node:path';
import { describeTarget } from '../../../functions/lib/db/connection.ts';
import { migrateRedo } from '../../../functions/lib/migrations/engine.ts';
import { systemClock } from '../../../functions/lib/migrations/index.ts';
import { COMMON_OPTIONS, parse, positiveInteger, RUN_OPTIONS, settingsFrom } from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { RedoRefused } from '../../errors.ts';
import { type CliIo, ExitCode } from '../../io.ts';
import { isLocalDatabase } from '../../localDatabase.ts';
import { retryWhileLockBusy } from '../../lockBusyRetry.ts';
import { printJson } from '../../output.ts';
import { cliRunOptions } from './runSupport.ts';

export const usage = `Usage: migration-pipeline migrate redo [--dir migrations] [--json]

For development: reverts the newest applied migration and applies it again as its file is now,
recording its new checksum. For a migration edited after it was applied, such as a scaffold applied
before it was filled in. Its down runs as the file is now, so it must also undo what the applied
version did. Refused unless the database is on this machine (localhost, a loopback address or a
socket): on a shared database, put the change in a new migration instead.
Takes the same lock and timeout flags as "migrate up".
`;

export async function redoCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, { ...COMMON_OPTIONS, ...RUN_OPTIONS });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const settings = settingsFrom(values, io.env);
  const retries = positiveInteger(values['lock-retries'], 'lock-retries') ?? 0;
  const migrationsDir = resolve(io.cwd, values.dir);
  const options = cliRunOptions(io, { runId: values['run-id'], settings, json: values.json });

  const result = await withCliDatabase(io, (url) => {
    if (!isLocalDatabase(url)) {
      throw new RedoRefused(
        `${describeTarget(url)} is not a local database (localhost, a loopback address or a socket), and redo ` +
          'rewrites its history: the history would no longer record what ran there. Put the change in a new ' +
          'migration ("migrate new"), or redo on your own development database.',
      );
    }
    return retryWhileLockBusy(() => migrateRedo({ ...options, database: url, migrationsDir }), {
      retries,
      io,
      clock: systemClock,
    });
  });

  if (values.json) printJson(io, { redone: result.migration, changed: result.changed });
  else {
    io.stdout(
      `Redid ${result.migration}${result.changed ? '; the history now records the file as it is now' : ''}.\n`,
    );
  }
  return ExitCode.ok;
}
