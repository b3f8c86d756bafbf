import type { EngineSettings, Log, MigrateOptions } from '../../../functions/lib/migrations/index.ts';
import { newRunId, systemClock } from '../../../functions/lib/migrations/index.ts';
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
