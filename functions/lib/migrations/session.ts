import type { Sql, TransactionSql } from 'postgres';
import { describePostgresError, MigrationFailed, MigrationLockLost, postgresErrorFields } from '../errors.ts';

/** The settings the run's session carried before any migration ran (the caller's own `SET`s). */
export type SessionBaseline = { name: string; setting: string }[];

export async function captureSessionBaseline(sql: Sql): Promise<SessionBaseline> {
  return sql<SessionBaseline>`select name, setting from pg_settings where source = 'session' order by name`;
}

/**
 * Puts the session back as it was before the run, so that each migration starts from the same state:
 * a `SET search_path`, `SET ROLE`, temporary table, open cursor, LISTEN or `PREPARE` of one migration
 * does not carry into the next. Not `DISCARD ALL` (nor `DEALLOCATE ALL`): that would release the
 * migration lock and the driver's own prepared statements, which `postgres` then fails to find
 * inside the next transaction (26000). Only statements prepared by SQL `PREPARE` are deallocated.
 * One round trip (a second only after a migration's own PREPARE).
 */
export async function resetSession(sql: Sql, baseline: SessionBaseline): Promise<void> {
  const results = (await sql.unsafe(
    [
      'set session authorization default; reset role; reset all; close all; unlisten *; discard temp; discard sequences',
      ...baseline.map(
        ({ name, setting }) => `select set_config(${literal(name)}, ${literal(setting)}, false)`,
      ),
      'select count(*)::int as prepared from pg_prepared_statements where from_sql',
    ].join('; '),
  )) as unknown as { prepared: number }[][];
  const state = results.at(-1)?.[0];
  if ((state?.prepared ?? 0) > 0) {
    const prepared = await sql<{ name: string }[]>`select name from pg_prepared_statements where from_sql`;
    for (const { name } of prepared) await sql.unsafe(`deallocate "${name.replaceAll('"', '""')}"`);
  }
}

/**
 * A string literal that means the same under any `standard_conforming_strings`: an escape string
 * (E'…') with its backslashes and quotes doubled. For values sent inside a multi-statement text,
 * which takes no parameters.
 */
export function literal(value: string): string {
  return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** SQL that is true while this session holds the run's advisory lock (`key` is a bigint, safe to inline). */
export function holdsLockExpression(key: bigint): string {
  const k = BigInt.asIntN(64, key).toString();
  return `exists (
      select 1 from pg_locks
      where locktype = 'advisory' and granted and objsubid = 1 and pid = pg_backend_pid()
        and classid::bigint = ((${k}::bigint >> 32) & 4294967295)
        and objid::bigint = (${k}::bigint & 4294967295)
        and database = (select oid from pg_database where datname = current_database()))`;
}

/**
 * Back to the session's own user before the engine writes its history row: a migration's
 * `SET ROLE` is for its own objects, and the role it chose may not write the history.
 */
export async function restoreIdentity(sql: Sql | TransactionSql): Promise<void> {
  await sql.unsafe('set session authorization default; reset role');
}

/**
 * Fails `MigrationLockLost` when this session no longer holds the run's advisory lock (a migration
 * called `pg_advisory_unlock_all()`, say): another run could then be migrating at the same time.
 */
export async function assertHoldsMigrationLock(
  sql: Sql | TransactionSql,
  key: bigint,
  migration: string,
  consequence: string,
): Promise<void> {
  const [row] = await sql.unsafe<{ held: boolean }[]>(`select ${holdsLockExpression(key)} as held`);
  if (!row?.held) throw migrationLockLost(migration, consequence);
}

export function migrationLockLost(migration: string, consequence: string): MigrationLockLost {
  return new MigrationLockLost(
    `The run no longer holds its migration lock at ${migration} (a migration released advisory locks, e.g. with pg_advisory_unlock_all()?), ` +
      `so another run could be migrating too. ${consequence} Remove the unlock from the migration and run again.`,
    { migration },
  );
}

/** The id of the transaction a migration started in; see `escapedTransaction`. */
export async function currentTransactionId(tx: TransactionSql): Promise<string> {
  const [row] = await tx<{ id: string }[]>`select txid_current()::text as id`;
  return row?.id ?? '';
}

/**
 * A migration module that ran COMMIT, ROLLBACK or BEGIN and then succeeded ended the transaction
 * the engine opened: what it did before may be committed, and its history row would no longer
 * commit with it. Found before the row is written (the row's write checks the transaction id); the
 * migration is then not recorded.
 */
export function endedTransaction(migration: string, direction: 'up' | 'down'): MigrationFailed {
  return new MigrationFailed(
    `Migration ${migration} (${direction}) ended the engine's transaction itself (COMMIT, ROLLBACK or BEGIN in a transactional migration). ` +
      'It is not recorded, but what it ran before that may be committed: check the schema, remove the transaction control ' +
      '(or export `transaction = false` and manage transactions yourself), and fix by hand what stayed.',
    { migration, direction },
  );
}

/**
 * After a migration failed inside the engine's transaction: whether it had ended that transaction
 * itself first (COMMIT, ROLLBACK or BEGIN), so that what it ran before may be committed. A query
 * that answers in another transaction, or in none, says so. One refused as aborted (25P02) is in
 * the engine's transaction or in one the migration began after ending it: that transaction is
 * rolled back, as it would be anyway, and the engine's own transaction was escaped if it committed.
 */
export async function escapedTransaction(tx: TransactionSql, startedIn: string): Promise<boolean> {
  try {
    return (await currentTransactionId(tx)) !== startedIn;
  } catch (error) {
    // Anything else (the connection lost) is for the migration's own error to tell.
    if ((error as { code?: string }).code !== '25P02') return false;
  }
  await tx.unsafe('rollback');
  const [row] = await tx<{ status: string | null }[]>`select txid_status(${startedIn}::bigint) as status`;
  return row?.status === 'committed';
}

/** The failure of a migration that had escaped the engine's transaction (see `escapedTransaction`). */
export function escapedTransactionFailure(
  error: unknown,
  migration: string,
  direction: 'up' | 'down',
): MigrationFailed {
  return new MigrationFailed(
    `Migration ${migration} (${direction}) failed: ${describePostgresError(error)}. It had ended the engine's transaction ` +
      'itself (COMMIT, ROLLBACK or BEGIN in a transactional migration), so part of it may have committed, and it is not ' +
      'recorded: check the tables, columns, indexes and rows it creates or changes before its failing statement, fix by ' +
      'hand what stayed, and remove the transaction control (or export `transaction = false` and manage transactions yourself).',
    { migration, direction, ...postgresErrorFields(error) },
    { cause: error },
  );
}

/**
 * A `transaction = false` migration that began a transaction and did not end it: its open work is
 * rolled back and it is not recorded, rather than committed later by whatever runs next.
 */
export async function assertNoOpenTransaction(
  sql: Sql,
  migration: string,
  direction: 'up' | 'down',
): Promise<void> {
  // SAVEPOINT is refused outside a transaction block (25P01) and accepted, or refused as aborted
  // (25P02), inside one: the one question PostgreSQL answers exactly.
  const open = await sql
    .unsafe('savepoint migration_pipeline_probe')
    .then(() => true)
    .catch((error: { code?: string }) => {
      if (error.code === '25P01') return false;
      if (error.code === '25P02') return true;
      throw error;
    });
  if (!open) return;
  await sql.unsafe('rollback');
  throw new MigrationFailed(
    `Migration ${migration} (${direction}) runs outside the engine's transaction (transaction = false) and left a transaction open. ` +
      'Its open transaction was rolled back and the migration is not recorded: end every BEGIN with COMMIT, then run it again.',
    { migration, direction },
  );
}
