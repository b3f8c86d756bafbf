import { InvalidInput } from '../../../functions/lib/errors.ts';
import type { EngineSettings, Log, MigrateOptions } from '../../../functions/lib/migrations/index.ts';
import { listMigrationFiles, newRunId, systemClock } from '../../../functions/lib/migrations/index.ts';
import type { CliIo } from '../../io.ts';
import { formatDuration } from '../../output.ts';

/** The engine options a CLI run shares: its run id, its settings, and progress printed as it goes. */
export function cliRunOptions(
  io: CliIo,
  { runId, settings, json }: { runId: string | undefined; settings: EngineSettings; json: boolean },
): Omit<MigrateOptions, 'database' | 'migrationsDir'> {
  // Warnings (lock retries) go to stderr so that --json output stays one document.
  const log: Log = { info: () => {}, warn: (message) => io.stderr(`  ${message}\n`) };
  return {
    runId: runId ?? newRunId('cli'),
    settings,
    log,
    clock: systemClock,
    onMigrated: json
      ? undefined
      : ({ name, direction, durationMs }) =>
          io.stdout(`  ${direction === 'up' ? '↑' : '↓'} ${name} (${formatDuration(durationMs)})\n`),
  };
}

/**
 * For the commands that judge every migration (verify, check): a folder without any would pass
 * having judged nothing, so it fails, pointing at --dir (usually the wrong folder).
 */
export async function requireMigrations(migrationsDir: string): Promise<void> {
  if ((await listMigrationFiles(migrationsDir)).length > 0) return;
  throw new InvalidInput(
    `The migrations folder ${migrationsDir} holds no migration (ley or dbmate files like 001-create-users.ts or .sql, ` +
      'or a Prisma, Drizzle, Flyway or golang-migrate folder), ' +
      'so there is nothing to judge. Pass the folder that holds them with --dir.',
    { field: 'dir' },
  );
}
