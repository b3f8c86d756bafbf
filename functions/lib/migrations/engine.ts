import { randomUUID } from 'node:crypto';
import type { Sql } from 'postgres';
import { connect } from '../db/connection.ts';
import { InvalidInput, MigrationsIrreversible, PipelineError, RollbackFailed } from '../errors.ts';
import { type Clock, type Log, silentLog, systemClock } from '../runtime.ts';
import { findLockHolder, type LockHolder, migrationLockKey } from './advisoryLock.ts';
import { invalidIndexes } from './apply.ts';
import { createDriver, type DriverOptions, type DriverSession, type LeyDriver, listed } from './driver.ts';
import type { MigrationFile } from './files.ts';
import { type MigrationFormat, readMigrationsFolder } from './formats/detect.ts';
import { type AppliedMigration, readHistory } from './history.ts';
import { loadPlan } from './loader.ts';
import {
  checkHistory,
  type DownSelection,
  pendingMigrations,
  selectForDown,
  selectForUp,
  type UpSelection,
} from './plan.ts';
import { DEFAULT_SETTINGS, type EngineSettings } from './settings.ts';

export interface MigrateOptions {
  /** A connection URL, or an open client with `max: 1` (the run's lock lives on its one session). */
  database: string | Sql;
  migrationsDir: string;
  /** Who applies: the Step Functions execution id, or a CLI run id. Defaults to a fresh `cli-…` id. */
  runId?: string;
  settings?: EngineSettings;
  log?: Log;
  clock?: Clock;
  onMigrated?: DriverOptions['onMigrated'];
  onLockRetry?: DriverOptions['onLockRetry'];
  onLockWait?: DriverOptions['onLockWait'];
  instrument?: DriverOptions['instrument'];
  schemaMayBeAhead?: DriverOptions['schemaMayBeAhead'];
}

export interface UpResult {
  runId: string;
  applied: string[];
  pending: string[];
  /** False when the deadline stopped the run with selected migrations still pending: call `up` again. */
  done: boolean;
  /** Everything the history says this run id applied, across invocations (a Lambda may need several). */
  appliedByRun: string[];
  fromVersion: string | null;
  toVersion: string | null;
}

export interface DownResult {
  runId: string;
  reverted: string[];
  fromVersion: string | null;
  toVersion: string | null;
}

export interface RedoResult {
  runId: string;
  /** The migration reverted and applied again. */
  migration: string;
  /** Whether its file had changed since it was applied: the history now records the new checksum. */
  changed: boolean;
}

export interface StatusResult {
  /** The folder's layout: ley/dbmate, or the tool whose folder it is. */
  format: MigrationFormat;
  applied: AppliedMigration[];
  pending: { name: string }[];
  /** Applied migrations an older image does not carry (with `schemaMayBeAhead`): they stay applied. */
  schemaAheadBy: string[];
  /** Drift, missing files or out-of-order files: `up` and `down` would refuse until they are fixed. */
  problems: { name: string; message: string }[];
  /** The session holding the migration lock: a run in progress, or a stuck one. */
  lockHolder: LockHolder | null;
  /** Indexes left INVALID by a failed or interrupted CREATE INDEX CONCURRENTLY. */
  invalidIndexes: string[];
}

/** A run id for runs started by a person or a script rather than by the state machine. */
export function newRunId(prefix = 'cli'): string {
  return `${prefix}-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
}

/**
 * Applies the pending migrations (or up to `to`, or `step` of them), each in its own transaction,
 * stopping before `deadline`. The result is read back from the history table.
 */
export async function migrateUp(
  options: MigrateOptions & UpSelection & { deadline?: number },
): Promise<UpResult> {
  return withRun(options, async (driver, session, runId) => {
    const fromVersion = session.history.at(-1)?.name ?? null;
    const selected = selectForUp(session.files, session.history, options);
    // Every pending file loads, not just the selected ones: `--to` short of a broken file still names it.
    // The loop loads the selected ones itself, before its first statement; each file loads once.
    const unselected = pendingMigrations(session.files, session.history).filter(
      (file) => !selected.includes(file),
    );
    await loadPlan(unselected, settingsOf(options));
    await driver.loop(session, toLeyFiles(selected), 'up');
    // Nothing selected, nothing written: the history read at the start is still the history.
    const after =
      selected.length === 0
        ? session.history
        : await readHistory(session.sql, settingsOf(options).historyTable);
    const appliedNames = new Set(after.map((row) => row.name));
    return {
      runId,
      applied: selected.filter((file) => appliedNames.has(file.name)).map((file) => file.name),
      pending: pendingMigrations(session.files, after).map((file) => file.name),
      done: selected.every((file) => appliedNames.has(file.name)),
      appliedByRun: after.filter((row) => row.appliedBy === runId).map((row) => row.name),
      fromVersion,
      toVersion: after.at(-1)?.name ?? null,
    };
  });
}

/**
 * Reverts applied migrations newest first: the newest one by default, everything after `to`,
 * `step` of them, or exactly those a run applied (`runId`). A selection holding a migration without
 * a down is refused whole (`MigrationsIrreversible`, nothing reverted), unless `stopAtForwardOnly`.
 */
export async function migrateDown(
  options: MigrateOptions &
    DownSelection & {
      /**
       * A release's rollback: revert the selected migrations newer than the newest one without a
       * down, keep that one and the older ones applied, then fail `MigrationsIrreversible` naming both.
       */
      stopAtForwardOnly?: boolean;
    },
): Promise<DownResult> {
  return withRun(options, async (driver, session, runId) => {
    const fromVersion = session.history.at(-1)?.name ?? null;
    const selected = selectForDown(session.history, options);
    const files = selected.map(
      (row) => session.files.find((file) => file.name === row.name) as MigrationFile,
    );
    try {
      await driver.loop(session, toLeyFiles(files), 'down');
    } catch (refusal) {
      if (!options.stopAtForwardOnly || !(refusal instanceof MigrationsIrreversible)) throw refusal;
      const { irreversible } = refusal.context;
      // Newest first: the ones above the newest forward-only migration stand on nothing it holds up.
      // The refusal changed nothing; their files load again for this loop.
      const above = files.slice(
        0,
        files.findIndex((file) => irreversible.includes(file.name)),
      );
      await driver.loop(session, toLeyFiles(above), 'down');
      throw forwardOnlyKept(
        above.map((file) => file.name),
        files.slice(above.length).map((file) => file.name),
        irreversible,
      );
    }
    const after = await readHistory(session.sql, settingsOf(options).historyTable);
    const stillApplied = new Set(after.map((row) => row.name));
    return {
      runId,
      reverted: selected.filter((row) => !stillApplied.has(row.name)).map((row) => row.name),
      fromVersion,
      toVersion: after.at(-1)?.name ?? null,
    };
  });
}

/** What a rollback that stopped at a forward-only migration did, and what that leaves the operator. */
function forwardOnlyKept(
  reverted: string[],
  keptApplied: string[],
  irreversible: string[],
): MigrationsIrreversible {
  // No double quotes: the local run's notification (aws-local-stepfunctions' States.JsonToString) would not escape them.
  const [stopper, ...below] = keptApplied;
  const others =
    below.length === 0
      ? ''
      : below.length === 1
        ? `, and so does ${below[0]} before it`
        : `, and so do the ${below.length} before it (${listed(below)})`;
  return new MigrationsIrreversible(
    `${reverted.length > 0 ? `Reverted ${listed(reverted)}.` : 'Reverted nothing.'} ` +
      `${stopper} has no down (forward-only), so it stays applied${others}. ` +
      'The previous app runs on this newer schema, as expand/contract migrations allow: check that it works, ' +
      'then ship a fix forward in a new release. Going back further means undoing those changes by hand ' +
      '(docs/operations.md, After MigrationsIrreversible).',
    { reverted, irreversible, keptApplied },
  );
}

/**
 * For development (the CLI refuses it on a database that is not local): reverts the newest applied
 * migration and applies it again as its file is now, recording its new checksum. For a migration
 * edited after it was applied, such as a scaffold applied before it was filled in. Its down runs as
 * the file is now, since the applied version's source is gone.
 */
export async function migrateRedo(options: MigrateOptions): Promise<RedoResult> {
  return withRun({ ...options, allowChangedNewest: true }, async (driver, session, runId) => {
    const newest = session.history.at(-1);
    const file = session.files.find((candidate) => candidate.name === newest?.name);
    if (!newest || !file) {
      throw new InvalidInput('Nothing to redo: no migration is applied. Apply one with "migrate up".', {
        field: 'redo',
      });
    }
    const changed = file.checksum !== newest.checksum;
    try {
      await driver.loop(session, toLeyFiles([file]), 'down');
    } catch (error) {
      if (!changed || !(error instanceof RollbackFailed)) throw error;
      throw new RollbackFailed(
        `${error.message} Its file changed since it was applied, and redo reverts with the down as it is now: ` +
          'make that down also undo what the applied version did (for a scaffold applied empty, DROP ... IF EXISTS).',
        error.context,
        { cause: error },
      );
    }
    await driver.loop(session, toLeyFiles([file]), 'up');
    return { runId, migration: file.name, changed };
  });
}

/** What is applied (when, how long, by which run) and pending, and what would stop a run. Changes nothing. */
export async function migrateStatus(
  options: Pick<MigrateOptions, 'database' | 'migrationsDir' | 'settings' | 'schemaMayBeAhead'>,
): Promise<StatusResult> {
  const settings = settingsOf(options);
  return withConnection(options.database, async (sql) => {
    // Independent questions, sent together: the client pipelines them on its one connection.
    const [history, { format, files }, lockHolder, invalid] = await Promise.all([
      readHistory(sql, settings.historyTable),
      readMigrationsFolder(options.migrationsDir),
      findLockHolder(sql, migrationLockKey(settings.historyTable)),
      invalidIndexes(sql),
    ]);
    const problems: StatusResult['problems'] = [];
    let schemaAheadBy: string[] = [];
    try {
      schemaAheadBy = checkHistory(files, history, {
        schemaMayBeAhead: options.schemaMayBeAhead,
      }).aheadOfFiles;
    } catch (error) {
      if (!(error instanceof PipelineError)) throw error;
      problems.push({ name: error.name, message: error.message });
    }
    return {
      format,
      applied: history,
      pending: pendingMigrations(files, history).map(({ name }) => ({ name })),
      schemaAheadBy,
      problems,
      lockHolder: lockHolder ?? null,
      invalidIndexes: invalid,
    };
  });
}

/** Connect, lock, check the history, run `body`, then always release the lock and the connection. */
export async function withRun<T>(
  options: MigrateOptions & Pick<DriverOptions, 'deadline' | 'allowChangedNewest'>,
  body: (driver: LeyDriver<DriverSession>, session: DriverSession, runId: string) => Promise<T>,
): Promise<T> {
  const runId = options.runId ?? newRunId();
  const driver = createDriver({
    database: options.database,
    migrationsDir: options.migrationsDir,
    runId,
    settings: settingsOf(options),
    clock: options.clock ?? systemClock,
    log: options.log ?? silentLog,
    deadline: options.deadline,
    allowChangedNewest: options.allowChangedNewest,
    schemaMayBeAhead: options.schemaMayBeAhead,
    onMigrated: options.onMigrated,
    onLockRetry: options.onLockRetry,
    onLockWait: options.onLockWait,
    instrument: options.instrument,
  });
  const session = await driver.connect();
  try {
    await driver.setup(session);
    return await body(driver, session, runId);
  } finally {
    await driver.end(session);
  }
}

async function withConnection<T>(database: string | Sql, body: (sql: Sql) => Promise<T>): Promise<T> {
  if (typeof database !== 'string') return body(database);
  const sql = await connect(database);
  try {
    return await body(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function settingsOf(options: { settings?: EngineSettings }): EngineSettings {
  return options.settings ?? DEFAULT_SETTINGS;
}

function toLeyFiles(files: readonly MigrationFile[]) {
  return files.map((file) => ({ name: file.name, abs: file.path }));
}
