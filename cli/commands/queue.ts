import { connect } from '../../functions/lib/db/connection.ts';
import { InvalidInput } from '../../functions/lib/errors.ts';
import {
  freeTurn,
  listQueue,
  type QueueEntry,
  queueTableFor,
} from '../../functions/lib/queue/releaseQueue.ts';
import { COMMON_OPTIONS, parse, settingsFrom } from '../args.ts';
import { withCliDatabase } from '../database.ts';
import { type CliIo, ExitCode, UsageError } from '../io.ts';
import { printJson, table } from '../output.ts';

export const usage = `Usage: migration-pipeline queue [--json]
       migration-pipeline queue free <execution name or ARN> [--json]

The release queue of the database (DATABASE_URL, or the embedded PostgreSQL): which release holds
the turn, which wait, and how the last ones ended. "free" ends a release's turn by hand: for a
release whose execution died and will not be redriven, or after a failed rollback once a person has
put the schema and the service right (docs/operations.md). It changes nothing else.
`;

export async function queueCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, COMMON_OPTIONS, true);
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const [action, execution, ...extra] = positionals;
  if (extra.length > 0 || (action !== undefined && action !== 'free') || (action === 'free' && !execution)) {
    throw new UsageError('Expected "queue" or "queue free <execution>".');
  }
  const queueTable = queueTableFor(settingsFrom(values, io.env).historyTable);
  return withCliDatabase(io, async (url) => {
    const sql = await connect(url, { applicationName: 'migration-pipeline queue' });
    try {
      if (action === 'free') {
        const freed = await freeTurn(sql, queueTable, execution as string);
        if (!freed) {
          throw new InvalidInput(
            `No release named ${execution} is waiting, holding the turn or blocked after a failed rollback; "migration-pipeline queue" lists them.`,
            { field: 'execution' },
          );
        }
        if (values.json) printJson(io, { freed: toJson(freed) });
        else io.stdout(`Freed the turn of ${freed.executionName}; the next release in line goes.\n`);
        return ExitCode.ok;
      }
      const entries = await listQueue(sql, queueTable);
      if (values.json) printJson(io, { releases: entries.map(toJson) });
      else if (entries.length === 0) io.stdout('No release has queued on this database yet.\n');
      else {
        io.stdout(
          table(
            ['RELEASE', 'STATE', 'STARTED', 'TURN TAKEN', 'EXPIRES', 'IMAGE'],
            entries.map((entry) => [
              entry.executionName,
              entry.state,
              time(entry.startedAt),
              time(entry.turnAt),
              entry.state === 'rollback_failed' ? 'never: free it by hand' : time(entry.expiresAt),
              entry.image,
            ]),
          ),
        );
      }
      return ExitCode.ok;
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
}

const time = (date: Date | null) => (date ? date.toISOString().replace('T', ' ').slice(0, 19) : '-');

function toJson(entry: QueueEntry) {
  return {
    ...entry,
    startedAt: entry.startedAt.toISOString(),
    expiresAt: entry.expiresAt.toISOString(),
    turnAt: entry.turnAt?.toISOString() ?? null,
    endedAt: entry.endedAt?.toISOString() ?? null,
  };
}
