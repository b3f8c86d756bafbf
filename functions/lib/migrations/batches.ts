import type { Sql, TransactionSql } from 'postgres';
import { InvalidInput } from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import { inTransactionWithLockRetries } from './lockRetry.ts';
import type { EngineSettings } from './settings.ts';

export interface BatchOptions {
  /** Rows per batch; each batch is one short transaction. Default 1000. */
  batchSize?: number;
  /** Pause between batches, to leave the database room for the app. Default 0. */
  pauseMs?: number;
  /** Stop after this many batches even if rows remain (a guard against a batch that never reports 0). */
  maxBatches?: number;
}

/**
 * Thrown between batches when the invocation's time is short: the migration is not recorded, and the
 * next invocation runs it again, its batch function picking up the rows still to do.
 */
export class BatchesPaused extends Error {
  override readonly name = 'BatchesPaused';
}

export interface BatchResult {
  batches: number;
  rows: number;
}

/**
 * Runs `batch` again and again, each time in its own transaction with the migration's lock and
 * statement timeouts and lock retries, until it reports that it touched no rows. Progress is logged
 * after each batch. Only for migrations that run outside a transaction (`transaction = false`).
 */
export async function runInBatches(
  sql: Sql | TransactionSql,
  batch: (tx: TransactionSql, batchSize: number) => Promise<number>,
  options: BatchOptions,
  {
    label,
    settings,
    clock,
    log,
    stopAfter,
  }: {
    label: string;
    settings: EngineSettings;
    clock: Clock;
    log: Log;
    /** Epoch ms after which no further batch starts (the invocation's deadline less its margin). */
    stopAfter?: number;
  },
): Promise<BatchResult> {
  if (!('begin' in sql)) {
    throw new InvalidInput(
      `${label} calls inBatches inside a transaction, which would make the backfill one long transaction. ` +
        'Add `export const transaction = false` to the migration.',
      { field: label },
    );
  }
  const batchSize = options.batchSize ?? 1000;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  const result: BatchResult = { batches: 0, rows: 0 };
  while (result.batches < maxBatches) {
    const rows = await inTransactionWithLockRetries(sql, (tx) => batch(tx, batchSize), {
      label: `${label} batch ${result.batches + 1}`,
      settings,
      clock,
      log,
    });
    if (typeof rows !== 'number' || !Number.isFinite(rows)) {
      throw new InvalidInput(`${label}: the batch function must return the number of rows it changed.`, {
        field: label,
      });
    }
    if (rows === 0) break;
    result.batches++;
    result.rows += rows;
    log.info(`${label}: batch ${result.batches} changed ${rows} rows (${result.rows} so far)`, { ...result });
    if (stopAfter !== undefined && clock.now() > stopAfter) {
      log.info(`${label}: pausing after batch ${result.batches}; the next invocation resumes`, { ...result });
      throw new BatchesPaused(`${label}: paused after ${result.batches} batches for the next invocation.`);
    }
    if (options.pauseMs) await clock.sleep(options.pauseMs);
  }
  return result;
}
