import type { Sql } from 'postgres';
import type { BundleRefInput, MigrateEvent, ReleaseOutcome } from '../contract/events.ts';
import { type DownResult, migrateDown, migrateUp, type UpResult } from '../migrations/engine.ts';
import type { EngineSettings } from '../migrations/settings.ts';
import { assertRollbackSafe, assertTurn, endTurn, queueTableFor } from '../queue/releaseQueue.ts';
import type { Clock, Log } from '../runtime.ts';
import { assertSettingsFitInvocation, boundSession, withHardDeadline } from './hardDeadline.ts';
import type { MetricsRecorder } from './metrics.ts';

/** `up`'s result, as the state machine sees it (the run id is the execution's own). */
export type MigrateUpResult = Omit<UpResult, 'runId'>;

/** `rollback`'s result. */
export type RollbackResult = Omit<DownResult, 'runId'>;

/** `end`'s result: the release's entry in the queue as it ended (none for a release that never queued). */
export interface EndResult {
  outcome: ReleaseOutcome;
  state: string | null;
}

export interface MigrateDependencies {
  openDatabase: () => Promise<Sql>;
  /** The folder holding a bundle's migrations, fetched and verified (see functions/lib/bundle). */
  migrationsFor: (bundle: BundleRefInput) => Promise<string>;
  settings: EngineSettings;
  /** Epoch ms when the invocation must have returned (the Lambda's remaining time). */
  deadline: number;
  clock: Clock;
  log: Log;
  metrics: MetricsRecorder;
}

/**
 * `up` applies what is pending within the time left, while the release holds its turn; `rollback`
 * reverts exactly what this execution (the run id) applied, newest first, unless a later release took
 * its turn since, stopping at a migration without a down (`MigrationsIrreversible`: the newer schema
 * stays, which is a failed release, not a half-reverted one); `end` records how the release ended,
 * passing the turn on. All are safe to repeat.
 */
export async function runMigrateStep(
  event: MigrateEvent,
  deps: MigrateDependencies,
): Promise<MigrateUpResult | RollbackResult | EndResult> {
  const queueTable = queueTableFor(deps.settings.historyTable);
  if (event.action === 'end') {
    const sql = await deps.openDatabase();
    try {
      const entry = await endTurn(sql, queueTable, event.runId, event.outcome);
      deps.log.info('Release ended', { outcome: event.outcome, state: entry?.state });
      return { outcome: event.outcome, state: entry?.state ?? null };
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  if (event.action === 'up') assertSettingsFitInvocation(deps.settings, deps.deadline, deps.clock);
  const migrationsDir = await deps.migrationsFor(event.bundle);
  const sql = await deps.openDatabase();
  const common = {
    database: sql,
    migrationsDir,
    runId: event.runId,
    // The migrations come from the image: an older image (an app rollback) leaves newer ones applied.
    schemaMayBeAhead: true,
    settings: deps.settings,
    clock: deps.clock,
    log: deps.log,
    onMigrated: ({ durationMs }: { durationMs: number }) => {
      deps.metrics.count(event.action === 'up' ? 'MigrationsApplied' : 'MigrationsReverted');
      deps.metrics.milliseconds('MigrationDuration', durationMs);
    },
    onLockRetry: () => deps.metrics.count('LockTimeoutRetries'),
    // A migration that waited for another session's transaction instead of queueing the app behind it.
    onLockWait: () => deps.metrics.count('LockWaits'),
  };
  try {
    await boundSession(sql, deps.deadline, deps.clock);
    const bounded = <T>(start: () => Promise<T>) => withHardDeadline(start, { sql, ...deps });
    if (event.action === 'up') {
      await assertTurn(sql, queueTable, event.runId);
      const { applied, pending, done, appliedByRun, fromVersion, toVersion } = await bounded(() =>
        migrateUp({ ...common, deadline: deps.deadline }),
      );
      deps.metrics.count('MigrationsPending', pending.length);
      return { applied, pending, done, appliedByRun, fromVersion, toVersion };
    }
    await assertRollbackSafe(sql, queueTable, event.runId);
    const { reverted, fromVersion, toVersion } = await bounded(() =>
      migrateDown({ ...common, revertRun: event.runId, stopAtForwardOnly: true }),
    );
    deps.metrics.count('RollbacksRun');
    return { reverted, fromVersion, toVersion };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
