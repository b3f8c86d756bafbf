import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Sql } from 'postgres';
import { connect } from '../db/connection.ts';
import { applyTlsPolicy } from '../db/connectionUrl.ts';
import { tlsPolicyFromEnv } from '../db/tls.ts';
import { InvalidInput, MigrationsIrreversible, RollbackFailed } from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import { acquireMigrationLock, migrationLockKey, releaseMigrationLock } from './advisoryLock.ts';
import { type ApplyContext, applyMigration, type Direction } from './apply.ts';
import { BatchesPaused } from './batches.ts';
import { checksumOf, listMigrationFiles, type MigrationFile } from './files.ts';
import { type AppliedMigration, ensureHistoryTable, readHistory } from './history.ts';
import { loadPlan } from './loader.ts';
import { checkHistory } from './plan.ts';
import { captureSessionBaseline, resetSession, type SessionBaseline } from './session.ts';
import type { EngineSettings } from './settings.ts';
import type { MigrationFunction, MigrationModule } from './types.ts';

/** A file as ley hands it to a driver's `loop`. */
export interface LeyFile {
  name: string;
  abs: string;
}

/** ley's driver interface (ley.d.ts), which our driver implements so `ley up --driver` works with it. */
export interface LeyDriver<Session> {
  connect(config?: unknown): Promise<Session>;
  setup(session: Session): Promise<{ name: string }[]>;
  loop(session: Session, files: LeyFile[], method: Direction): Promise<void>;
  end(session: Session): Promise<void>;
}

export interface DriverOptions {
  /**
   * A connection URL (the driver opens and closes its own session) or an open single-connection client.
   * Without it, `connect` takes ley's config: a URL string, `{ connection }`, or DATABASE_URL.
   */
  database?: string | Sql;
  migrationsDir: string;
  /** Recorded as `applied_by`: the execution or run id; revert-by-run selects on it. */
  runId: string;
  settings: EngineSettings;
  clock: Clock;
  log: Log;
  /** Epoch ms. `up` starts no migration after `deadline - settings.deadlineMarginMs`. */
  deadline?: number;
  /** For redo: the newest applied migration may have changed since (it is applied again as it is now). */
  allowChangedNewest?: boolean;
  /** Releases from images: applied migrations newer than every file (an older image) are fine. */
  schemaMayBeAhead?: boolean;
  /** Called after each migration applied or reverted, for progress output and metrics. */
  onMigrated?: (event: { name: string; direction: Direction; durationMs: number }) => void;
  onLockRetry?: ApplyContext['onLockRetry'];
  onLockWait?: ApplyContext['onLockWait'];
  instrument?: ApplyContext['instrument'];
}

/** The state of one run: its session, the lock it holds, and what `setup` found. */
export interface DriverSession {
  sql: Sql;
  ownsConnection: boolean;
  lockKey: bigint;
  backendPid: number;
  /** The session's own settings before the run: each migration starts from them. */
  baseline: SessionBaseline;
  files: MigrationFile[];
  history: AppliedMigration[];
}

/**
 * Our ley driver over `postgres`. Beyond stock ley's driver: one run at a time (session advisory
 * lock), a transaction per migration with bounded, retried lock waits, a history with checksums,
 * durations and run ids, drift/missing/order checks before anything runs, and a deadline.
 */
export function createDriver(options: DriverOptions): LeyDriver<DriverSession> {
  const { settings, clock, log } = options;
  return {
    async connect(config?: unknown) {
      const database = options.database ?? urlFromLeyConfig(config);
      const ownsConnection = typeof database === 'string';
      const sql =
        typeof database === 'string'
          ? await connect(database, { applicationName: `migration-pipeline ${options.runId}`.slice(0, 63) })
          : database;
      const lockKey = migrationLockKey(settings.historyTable);
      try {
        // Sent together (the client pipelines them on its one connection): the lock's first try,
        // the backend, the session's own settings.
        const [, [row], baseline] = await Promise.all([
          acquireMigrationLock(sql, lockKey, { waitMs: settings.lockWaitMs, clock, log }),
          sql<{ pid: number }[]>`select pg_backend_pid() as pid`,
          captureSessionBaseline(sql),
        ]);
        return { sql, ownsConnection, lockKey, backendPid: row?.pid ?? -1, baseline, files: [], history: [] };
      } catch (error) {
        if (ownsConnection) await sql.end({ timeout: 5 });
        throw error;
      }
    },

    async setup(session) {
      session.history = await readHistory(session.sql, settings.historyTable);
      session.files = await listMigrationFiles(options.migrationsDir);
      checkHistory(session.files, session.history, {
        allowChangedNewest: options.allowChangedNewest,
        schemaMayBeAhead: options.schemaMayBeAhead,
      });
      return session.history.map(({ name }) => ({ name }));
    },

    async loop(session, files, method) {
      const planned = await Promise.all(
        files.map(
          async (leyFile) => session.files.find((f) => f.name === leyFile.name) ?? fileFromLey(leyFile),
        ),
      );
      // The whole plan loads before anything changes: a broken file is named with nothing applied.
      const modules = await loadPlan(planned, settings);
      if (method === 'down') refuseIrreversible(planned, modules);
      if (planned.length > 0) await ensureHistoryTable(session.sql, settings.historyTable);
      const context: ApplyContext = {
        sql: session.sql,
        backendPid: session.backendPid,
        lockKey: session.lockKey,
        runId: options.runId,
        settings,
        clock,
        log,
        onLockRetry: options.onLockRetry,
        onLockWait: options.onLockWait,
        instrument: options.instrument,
        ...(options.deadline !== undefined
          ? { stopBatchesAfter: options.deadline - settings.deadlineMarginMs }
          : {}),
      };
      const done: string[] = [];
      for (const file of planned) {
        if (
          method === 'up' &&
          options.deadline !== undefined &&
          clock.now() > options.deadline - settings.deadlineMarginMs
        ) {
          log.info('Stopping before the deadline; the rest stays pending for the next invocation', {
            next: file.name,
          });
          return;
        }
        const module = modules.get(file.name) as MigrationModule;
        const run = (method === 'up' ? module.up : module.down) as MigrationFunction;
        // The lock was verified where it could last have been lost: when it was taken, and by the
        // previous migration's history row (written only while it is held).
        await resetSession(session.sql, session.baseline);
        log.info(`${method === 'up' ? 'Applying' : 'Reverting'} ${file.name}`, { migration: file.name });
        try {
          const transactional =
            method === 'down' ? (module.downTransaction ?? module.transaction) : module.transaction;
          const locks = (method === 'up' ? module.upLocks : module.downLocks) ?? [];
          const durationMs = await applyMigration(context, file, method, run, transactional, locks);
          done.push(file.name);
          options.onMigrated?.({ name: file.name, direction: method, durationMs });
        } catch (error) {
          if (error instanceof BatchesPaused) return;
          if (
            method === 'up' ||
            (error as Error).name === 'LockTimeout' ||
            (error as Error).name === 'DatabaseUnreachable'
          )
            throw error;
          throw new RollbackFailed(
            `Reverting ${file.name} failed: ${(error as Error).message} Reverted before it: ${done.join(', ') || 'none'}. ` +
              'Fix the down and revert again, or revert by hand (see docs/operations.md).',
            { migration: file.name, reverted: done, remaining: files.slice(done.length).map((f) => f.name) },
            { cause: error },
          );
        }
      }
    },

    async end(session) {
      try {
        await releaseMigrationLock(session.sql, session.lockKey);
      } catch {
        // The session is gone, and its lock with it.
      } finally {
        if (session.ownsConnection) await session.sql.end({ timeout: 5 });
      }
    },
  };
}

/**
 * Reverting refuses, before the first migration, a selection (newest first) holding any migration
 * without a down: what was asked for cannot be done, so nothing is (a release's rollback then
 * reverts the ones above the newest forward-only migration: `stopAtForwardOnly` in migrateDown).
 */
function refuseIrreversible(files: readonly MigrationFile[], modules: Map<string, MigrationModule>): void {
  const irreversible = files.filter((file) => !modules.get(file.name)?.down).map((file) => file.name);
  const newest = irreversible[0];
  if (newest === undefined) return;
  const revertAfter =
    files[0]?.name === newest ? '' : `"migrate down --to ${newest}" reverts the migrations after it. `;
  const [has, them, rows] =
    irreversible.length > 1 ? ['have', 'them', 'their history rows'] : ['has', 'it', 'its history row'];
  throw new MigrationsIrreversible(
    `${listed(irreversible)} ${has} no down (forward-only), so nothing was reverted. ${revertAfter}` +
      `To undo ${them}, ship a new migration that does (a fix forward), or undo ${them} by hand and delete ` +
      `${rows} (docs/operations.md, "After MigrationsIrreversible").`,
    { reverted: [], irreversible, keptApplied: files.map((file) => file.name) },
  );
}

/** Names in a message: a forward-only history can hold hundreds, which the error's context lists whole. */
export function listed(names: readonly string[], most = 5): string {
  return names.length <= most
    ? names.join(', ')
    : `${names.slice(0, most).join(', ')} and ${names.length - most} more`;
}

function urlFromLeyConfig(config: unknown): string {
  // ley's CLI passes the config file's name as `config` when there is no config file.
  const url =
    typeof config === 'string' && /^postgres(ql)?:\/\//.test(config)
      ? config
      : ((config as { connection?: unknown } | undefined)?.connection ?? process.env.DATABASE_URL);
  if (typeof url !== 'string' || url === '') {
    throw new InvalidInput('No database to migrate: set DATABASE_URL, or `connection` in ley.config.js.', {
      field: 'DATABASE_URL',
    });
  }
  // DATABASE_TLS and DATABASE_CA_BUNDLE apply here as in the CLI.
  return applyTlsPolicy(url, tlsPolicyFromEnv(process.env, process.cwd())).url;
}

/** ley's own CLI passes files the engine did not list (its `dir` option); read them the same way. */
async function fileFromLey(file: LeyFile): Promise<MigrationFile> {
  return {
    name: file.name || basename(file.abs),
    path: file.abs,
    checksum: checksumOf(await readFile(file.abs, 'utf8')),
  };
}
