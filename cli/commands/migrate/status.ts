import { FORMAT_DESCRIPTIONS } from '../../../functions/lib/migrations/formats/detect.ts';
import { migrateStatus } from '../../../functions/lib/migrations/index.ts';
import { COMMON_OPTIONS, dirGiven, IMAGE_OPTIONS, parse, settingsFrom } from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { migrationsSource } from '../../imageMigrations.ts';
import { type CliIo, ExitCode } from '../../io.ts';
import { formatDuration, printJson, table } from '../../output.ts';

export const usage = `Usage: migration-pipeline migrate status [--dir migrations | --image REF] [--json]

Shows the applied migrations (when, how long, by which run), the pending ones, and anything that
would stop a run: drift, missing files, a held migration lock, INVALID indexes.
--image REF reads the migrations inside that image from its registry instead of a folder: what would
this image apply? (An older image, whose migrations the schema is ahead of, is no problem.)
Exit status 1 when there is such a problem.
`;

export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, { ...COMMON_OPTIONS, ...IMAGE_OPTIONS });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const settings = settingsFrom(values, io.env);
  const source = await migrationsSource(values, io, dirGiven(argv));
  if (source.image && !values.json) io.stdout(`Image: ${source.image}\n`);
  const status = await withCliDatabase(io, (url) =>
    migrateStatus({
      database: url,
      migrationsDir: source.dir,
      settings,
      schemaMayBeAhead: source.image !== undefined,
    }),
  );

  if (values.json) {
    printJson(io, {
      format: status.format,
      applied: status.applied.map((row) => ({
        name: row.name,
        checksum: row.checksum,
        appliedAt: row.appliedAt.toISOString(),
        durationMs: row.durationMs,
        appliedBy: row.appliedBy,
      })),
      pending: status.pending,
      schemaAheadBy: status.schemaAheadBy,
      problems: status.problems,
      lockHolder: status.lockHolder,
      invalidIndexes: status.invalidIndexes,
    });
  } else {
    let text = status.format === 'ley' ? '' : `Layout: ${FORMAT_DESCRIPTIONS[status.format]}\n`;
    text += `Applied: ${status.applied.length}\n`;
    if (status.applied.length > 0) {
      text += table(
        ['NAME', 'APPLIED AT', 'DURATION', 'BY'],
        status.applied.map((row) => [
          row.name,
          row.appliedAt.toISOString().replace('T', ' ').slice(0, 19),
          formatDuration(row.durationMs),
          row.appliedBy,
        ]),
      );
    }
    text += `Pending: ${status.pending.length}\n`;
    text += status.pending.map((row) => `  ${row.name}\n`).join('');
    if (status.schemaAheadBy.length > 0) {
      text += `The schema is ${status.schemaAheadBy.length} migration(s) ahead of this image (${status.schemaAheadBy.join(', ')}): they stay applied.\n`;
    }
    for (const problem of status.problems) text += `Problem: ${problem.name}: ${problem.message}\n`;
    if (status.lockHolder) {
      text += `Migration lock: held by session ${status.lockHolder.pid} (${status.lockHolder.applicationName ?? 'unknown'}): a run is in progress, or stuck.\n`;
    }
    if (status.invalidIndexes.length > 0) {
      text += `INVALID indexes (a failed CREATE INDEX CONCURRENTLY): ${status.invalidIndexes.join(', ')}. Drop them with DROP INDEX CONCURRENTLY and re-run the migration.\n`;
    }
    io.stdout(text);
  }
  return status.problems.length > 0 ? ExitCode.failed : ExitCode.ok;
}
