/** PostgreSQL's table-level lock modes, as pg_locks names them (weakest to strongest). */
export type LockMode =
  | 'AccessShareLock'
  | 'RowShareLock'
  | 'RowExclusiveLock'
  | 'ShareUpdateExclusiveLock'
  | 'ShareLock'
  | 'ShareRowExclusiveLock'
  | 'ExclusiveLock'
  | 'AccessExclusiveLock';

/**
 * One migration of the labelled corpus `check` is measured on: a schema with data as production has
 * it, one migration, and the truth about it, written from the PostgreSQL documentation (explicit
 * locking, ALTER TABLE) and the lists of strong_migrations, GitLab's migration guide and squawk,
 * its lock and rewrite verified on a real server by test/check/corpus.test.ts.
 */
export interface CheckCase {
  /** kebab-case, unique. */
  id: string;
  /** Where the operation's behaviour is documented (a URL or a document and section). */
  source: string;
  /** SQL creating the tables as they are before the migration, with rows (run as `check --seed`). */
  setup: string;
  /** The migration: a dbmate-style SQL file (`-- migrate:up` …) or an ES module (`export async function up(sql) …`). */
  migration: { sql: string } | { module: string };
  /** True when running it in production can stall or break the app (lock held through a scan or rewrite, a contract change, …). */
  dangerous: boolean;
  /** Why, in one sentence: what the app suffers, or why it is safe. */
  why: string;
  /** The strongest lock the migration holds on a table that existed before it, or null when none. */
  lock: { table: string; mode: LockMode } | null;
  /** Whether a table that existed before it is rewritten (its relfilenode changes). */
  rewrites: boolean;
  /** For a dangerous case: what the right advice must mention (e.g. /CONCURRENTLY/, /USING INDEX/). */
  advice?: RegExp;
}
