import { InvalidInput } from '../errors.ts';
import { type MigrateOptions, withRun } from './engine.ts';
import { findMigration } from './files.ts';
import { ensureHistoryTable, recordApplied } from './history.ts';
import { DEFAULT_SETTINGS } from './settings.ts';

export interface BaselineResult {
  runId: string;
  /** The migrations recorded as applied without running them, in order (or that would be, in a dry run). */
  recorded: string[];
  dryRun: boolean;
}

/**
 * Adopts a database that another tool (or a person) built: records the migrations up to and
 * including `to` as applied, with their checksums and the run id, without running them, so that
 * `up` then applies only what follows. All the rows commit together. Refused when the history
 * already has rows: baselining twice would hide a history that is really there.
 */
export async function migrateBaseline(
  options: MigrateOptions & { to: string; dryRun?: boolean },
): Promise<BaselineResult> {
  const settings = options.settings ?? DEFAULT_SETTINGS;
  return withRun(options, async (_driver, session, runId) => {
    if (session.history.length > 0) {
      throw new InvalidInput(
        `The history already records ${session.history.length} migration(s) (the newest ${session.history.at(-1)?.name}); ` +
          'a baseline is only for a database whose history is empty. Use "migrate up" to apply what follows.',
        { field: 'to' },
      );
    }
    const target = findMigration(session.files, options.to);
    if (!target) {
      throw new InvalidInput(
        `--to ${options.to}: no such migration in the folder. Run "migrate status" to see the names.`,
        { field: 'to' },
      );
    }
    const recorded = session.files.slice(0, session.files.indexOf(target) + 1);
    if (!options.dryRun) {
      await ensureHistoryTable(session.sql, settings.historyTable);
      await session.sql.begin(async (tx) => {
        for (const file of recorded) {
          await recordApplied(tx, settings.historyTable, {
            name: file.name,
            checksum: file.checksum,
            durationMs: 0,
            appliedBy: runId,
          });
        }
      });
    }
    return { runId, recorded: recorded.map((file) => file.name), dryRun: options.dryRun === true };
  });
}
