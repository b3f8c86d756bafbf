import type { Sql, TransactionSql } from 'postgres';
import type { Log } from '../runtime.ts';
import type { BatchOptions, BatchResult } from './batches.ts';
import type { LockTarget } from './lockTargets.ts';

/** What a migration's `up`/`down` receives besides `sql`: ley passes only `sql`, so modules may ignore it. */
export interface MigrationContext {
  /** The migration's file name. */
  name: string;
  log: Log;
  /**
   * Runs `batch` in its own short transaction until it reports 0 rows: the safe way to backfill a
   * large table (needs `export const transaction = false`).
   */
  inBatches(
    batch: (tx: TransactionSql, batchSize: number) => Promise<number>,
    options?: BatchOptions,
  ): Promise<BatchResult>;
}

export type MigrationFunction = (sql: Sql | TransactionSql, context: MigrationContext) => unknown;

export interface MigrationModule {
  up: MigrationFunction;
  down: MigrationFunction | undefined;
  /** False when the module exports `transaction = false` (e.g. for `CREATE INDEX CONCURRENTLY`). */
  transaction: boolean;
  /** For `down`, when it differs (a SQL file's `-- migrate:down transaction:false`). */
  downTransaction?: boolean;
  /** The table locks up and down ask for, where their statements are known before they run (SQL files). */
  upLocks?: LockTarget[];
  downLocks?: LockTarget[];
}
