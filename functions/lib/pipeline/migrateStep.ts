import type { Sql } from 'postgres';
import { type DownResult, migrateDown, migrateUp, type UpResult } from '../migrations/engine.ts';
import type { EngineSettings } from '../migrations/settings.ts';
import type { Clock, Log } from '../migrations/types.ts';
import type { MigrateEvent } from './events.ts';
import type { MetricsRecorder } from './metrics.ts';

/** `up`'s result, as the state machine sees it (the run id is the execution's own). */
export type MigrateUpResult = Omit<UpResult, 'runId'>;

/** `rollback`'s result. */
export type RollbackResult = Omit<DownResult, 'runId'>;

export interface MigrateDependencies {
  openDatabase: () => Promise<Sql>;
  migrationsDir: string;
  settings: EngineSettings;
  /** Epoch ms when the invocation must have returned (the Lambda's remaining time). */
  deadline: number;
  clock: Clock;
  log: Log;
  metrics: MetricsRecorder;
}

/**
 * `up` applies what is pending within the time left; `rollback` reverts exactly what this execution
 * (the run id) applied, newest first. Both are safe to repeat: a re-run finds nothing left to do.
 */
export async function runMigrateStep(
  event: MigrateEvent,
  deps: MigrateDependencies,
): Promise<MigrateUpResult | RollbackResult> {
  const sql = await deps.openDatabase();
  const common = {
    database: sql,
    migrationsDir: deps.migrationsDir,
    runId: event.runId,
    settings: deps.settings,
    clock: deps.clock,
    log: deps.log,
    onMigrated: ({ durationMs }: { durationMs: number }) => {
      deps.metrics.count(event.action === 'up' ? 'MigrationsApplied' : 'MigrationsReverted');
      deps.metrics.milliseconds('MigrationDuration', durationMs);
    },
    onLockRetry: () => deps.metrics.count('LockTimeoutRetries'),
  };
  try {
    if (event.action === 'up') {
      const { applied, pending, done, appliedByRun, fromVersion, toVersion } = await migrateUp({
        ...common,
        deadline: deps.deadline,
      });
      deps.metrics.count('MigrationsPending', pending.length);
      return { applied, pending, done, appliedByRun, fromVersion, toVersion };
    }
    const { reverted, fromVersion, toVersion } = await migrateDown({ ...common, revertRun: event.runId });
    deps.metrics.count('RollbacksRun');
    return { reverted, fromVersion, toVersion };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
