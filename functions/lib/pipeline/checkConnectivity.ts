import type { Sql } from 'postgres';
import type { BundleRefInput, ConnectivityEvent } from '../contract/events.ts';
import { resolveImage } from '../deploy/image.ts';
import type { BlockingSession } from '../errors.ts';
import { findLockHolder, migrationLockKey } from '../migrations/advisoryLock.ts';
import { invalidIndexes } from '../migrations/apply.ts';
import { listMigrationFiles } from '../migrations/files.ts';
import { readHistory } from '../migrations/history.ts';
import { loadPlan } from '../migrations/loader.ts';
import { findLongTransactions } from '../migrations/lockRetry.ts';
import { checkHistory, pendingMigrations } from '../migrations/plan.ts';
import type { EngineSettings } from '../migrations/settings.ts';
import { queueTableFor, takeTurn } from '../queue/releaseQueue.ts';
import type { Clock } from '../runtime.ts';
import type { MetricsRecorder } from './metrics.ts';

export interface ConnectivityReport {
  serverVersion: string;
  database: string;
  user: string;
  tls: boolean;
  /** Connect plus a first query, as the migrate step will experience it. */
  connectMs: number;
  /** One round trip once connected. */
  latencyMs: number;
  connections: number;
  maxConnections: number;
  applied: string[];
  pending: string[];
  /**
   * Applied migrations this image does not carry: it is older than the schema (an app rollback).
   * Nothing is applied or reverted for them; they stay.
   */
  schemaAheadBy: string[];
  /** The image the release will deploy, as the deploy step will pin it. */
  image: string;
  lockFree: boolean;
  lockHolderPid?: number;
  /** Sessions with a transaction open longer than the threshold: DDL would queue behind them. */
  longTransactions: BlockingSession[];
  invalidIndexes: string[];
  /** When this release took its turn in the release queue (absent in a dry run, which does not queue). */
  turnTakenAt?: string | null;
}

export interface ConnectivityDependencies {
  openDatabase: () => Promise<Sql>;
  /** The folder holding a bundle's migrations, fetched and verified (see functions/lib/bundle). */
  migrationsFor: (bundle: BundleRefInput) => Promise<string>;
  settings: EngineSettings;
  allowedRepository: string;
  longTransactionSeconds: number;
  /** How long an execution can live (the state machine's TimeoutSeconds): a dead release's turn expires after it. */
  releaseLifetimeMs: number;
  clock: Clock;
  metrics: MetricsRecorder;
}

/**
 * Can we reach, authenticate and lock the database, what is applied and pending, and what might
 * block DDL; then, last, the release takes its turn in the database's release queue (not in a dry
 * run). Changes no schema. A foreign image, drift or a missing migration fails here, before any step
 * changes anything.
 */
export async function checkConnectivity(
  event: ConnectivityEvent,
  deps: ConnectivityDependencies,
): Promise<ConnectivityReport> {
  const { input, release } = event;
  const image = resolveImage(release.image, deps.allowedRepository);
  const files = await listMigrationFiles(await deps.migrationsFor(release.bundle));
  const started = deps.clock.now();
  const sql = await deps.openDatabase();
  try {
    const connectMs = deps.clock.now() - started;
    const pingStarted = deps.clock.now();
    await sql`select 1`;
    const latencyMs = deps.clock.now() - pingStarted;
    const [server] = await sql<
      {
        serverVersion: string;
        database: string;
        user: string;
        tls: boolean;
        connections: number;
        maxConnections: number;
      }[]
    >`
      select current_setting('server_version') as "serverVersion", current_database() as database,
             current_user as user,
             coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false) as tls,
             (select count(*)::int from pg_stat_activity where datname = current_database()) as connections,
             current_setting('max_connections')::int as "maxConnections"`;
    const history = await readHistory(sql, deps.settings.historyTable);
    const { aheadOfFiles } = checkHistory(files, history, { schemaMayBeAhead: true });
    // Every pending file loads now, so that a broken one stops the release before its turn.
    await loadPlan(pendingMigrations(files, history), deps.settings);
    // Take the migration lock and give it back at once: proves this user may, and that no run holds it.
    const key = migrationLockKey(deps.settings.historyTable).toString();
    const [lock] = await sql<{ taken: boolean }[]>`select pg_try_advisory_lock(${key}::bigint) as taken`;
    if (lock?.taken) await sql`select pg_advisory_unlock(${key}::bigint)`;
    const holder = lock?.taken
      ? undefined
      : await findLockHolder(sql, migrationLockKey(deps.settings.historyTable));
    deps.metrics.milliseconds('ConnectivityLatency', latencyMs);
    const longTransactions = await findLongTransactions(sql, deps.longTransactionSeconds);
    const invalid = await invalidIndexes(sql);
    // Last, once everything else passed: a release that holds the turn is one that can go ahead.
    // A dry run changes nothing, so it does not queue.
    const turn = input.dryRun
      ? undefined
      : await takeTurn(
          sql,
          queueTableFor(deps.settings.historyTable),
          {
            executionId: event.executionId,
            executionName: event.executionName ?? event.executionId.split(':').at(-1) ?? event.executionId,
            startedAt: new Date(event.startedAt),
            image: image.identifier,
          },
          { lifetimeMs: deps.releaseLifetimeMs },
        );
    return {
      ...(server as NonNullable<typeof server>),
      connectMs,
      latencyMs,
      applied: history.map((row) => row.name),
      pending: pendingMigrations(files, history).map((file) => file.name),
      schemaAheadBy: aheadOfFiles,
      image: image.identifier,
      lockFree: holder === undefined,
      ...(holder ? { lockHolderPid: holder.pid } : {}),
      longTransactions,
      invalidIndexes: invalid,
      ...(turn ? { turnTakenAt: turn.turnAt?.toISOString() ?? null } : {}),
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
