import type { Sql, TransactionSql } from 'postgres';
import type { BatchOptions, BatchResult } from './batches.ts';

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
}

/** The logging the engine needs; the Powertools Logger and the CLI's printer both fit. */
export interface Log {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

/** Time, passed in so that tests and the Lambda's deadline agree on it. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const silentLog: Log = { info() {}, warn() {} };
