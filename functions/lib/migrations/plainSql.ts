import { readFileSync } from 'node:fs';
import type { MigrationFile, PlainSqlSource } from './files.ts';
import { type LockTarget, lockTargetsOfStatements } from './lockTargets.ts';
import { type Refuse, refuseEscapes, refuserFor, runnerOf, statementsOf } from './sqlFile.ts';
import {
  engineTimeoutChangedBy,
  outsideTransactionOnly,
  transactionControlOf,
  unrunnableProblem,
} from './sqlRefusals.ts';
import type { SqlStatement } from './sqlStatements.ts';
import type { MigrationFunction, MigrationModule } from './types.ts';

const TOOL_NAMES: Record<PlainSqlSource['format'], string> = {
  prisma: 'Prisma',
  drizzle: 'drizzle-kit',
  flyway: 'Flyway',
  'golang-migrate': 'golang-migrate',
};

/**
 * Loads another tool's plain SQL migration (the whole file is the up; the down, if any, is a file of
 * its own) with the engine's guarantees: each runs in the engine's transaction, with its timeouts
 * and its history row, unless it consists of commands PostgreSQL only runs outside one (CREATE INDEX
 * CONCURRENTLY…), which then run one by one outside it, as Flyway does. A file mixing both is
 * refused: the other statements would lose their all-or-nothing. Flyway's `executeInTransaction`
 * decides where a script sets it; `BEGIN; … COMMIT;` blocks (golang-migrate's wrapping, Prisma's enum
 * changes) become part of the engine's transaction; a change of lock_timeout or statement_timeout
 * gives way to the engine's own (logged, not run); any other transaction control is refused.
 */
export async function loadPlainSqlMigration(
  file: MigrationFile & { plainSql: PlainSqlSource },
): Promise<MigrationModule> {
  const source = file.plainSql;
  const up = plainRunner(
    file.name,
    source.emptyUp ? '' : readFileSync(file.path, 'utf8'),
    source,
    source.transaction,
  );
  if (source.downPath === undefined) {
    return { up: up.run, down: undefined, transaction: up.transactional, upLocks: up.locks };
  }
  const down = plainRunner(
    `${file.name} (down)`,
    readFileSync(source.downPath, 'utf8'),
    source,
    source.downTransaction,
  );
  return {
    up: up.run,
    down: down.run,
    transaction: up.transactional,
    downTransaction: down.transactional,
    upLocks: up.locks,
    downLocks: down.locks,
  };
}

function plainRunner(
  name: string,
  text: string,
  source: PlainSqlSource,
  transactionSetting: boolean | undefined,
): { run: MigrationFunction; transactional: boolean; locks: LockTarget[] } {
  // Editors on Windows save a byte-order mark, which PostgreSQL would take for part of the first word.
  const sql = text.replace(/^\uFEFF/, '');
  const refuse = refuserFor(name, sql);
  const written: SqlStatement[] = [];
  for (const statement of statementsOf(sql, 0, sql.length, refuse)) {
    const unrunnable = unrunnableProblem(statement);
    if (unrunnable) throw refuse(statement.offset, unrunnable);
    written.push(statement);
  }
  // A file that manages its own transactions (executeInTransaction=false) keeps them as written.
  const statements = transactionSetting === false ? written : withoutTransactionBlocks(written, refuse);
  const outside = statements.filter((statement) => outsideTransactionOnly(statement));
  const transactional = transactionSetting ?? outside.length === 0;
  const tool = TOOL_NAMES[source.format];
  if (transactional) {
    const [first] = outside;
    if (first) {
      throw refuse(
        first.offset,
        `${outsideTransactionOnly(first)} cannot run inside a transaction, and executeInTransaction=true says this script runs in one. ` +
          'Set executeInTransaction=false in its .sql.conf, or move the statement into a migration of its own.',
      );
    }
    const optOut =
      source.format === 'flyway'
        ? "To manage transactions yourself, set executeInTransaction=false in the script's .sql.conf."
        : `${tool}'s files cannot opt out of it; a file of only CREATE INDEX CONCURRENTLY-like statements runs outside a transaction by itself.`;
    const timeouts = statements.filter((statement) => engineTimeoutChangedBy(statement));
    const kept = statements.filter((statement) => !timeouts.includes(statement));
    for (const statement of kept) refuseEscapes(statement, refuse, optOut);
    return { run: runnerSkipping(kept, timeouts, name), transactional, locks: lockTargetsOfStatements(kept) };
  } else if (transactionSetting === undefined) {
    const inside = statements.find((statement) => !outsideTransactionOnly(statement));
    if (inside && outside[0]) {
      throw refuse(
        outside[0].offset,
        `${outsideTransactionOnly(outside[0])} cannot run inside a transaction, so this file would run without one, ` +
          'and its other statements would lose their all-or-nothing (a failure halfway would leave half of them applied and the migration unrecorded). ' +
          'Move that statement into a migration of its own.',
      );
    }
  }
  return { run: runnerOf(statements), transactional, locks: lockTargetsOfStatements(statements) };
}

/**
 * Runs `statements`; the `skipped` timeout changes are named in the log, not run. Files written for
 * another tool set lock_timeout or statement_timeout to bound how long they wait (or pg_dump's
 * preamble lifts them); here the engine sets both for each attempt, short and retried, and a change
 * inside the transaction would override that for the rest of it.
 */
function runnerSkipping(
  statements: readonly SqlStatement[],
  skipped: readonly SqlStatement[],
  name: string,
): MigrationFunction {
  const run = runnerOf(statements);
  if (skipped.length === 0) return run;
  return async (sql, context) => {
    for (const statement of skipped) {
      context.log.info(
        `${name}: not running "${statement.sql.trim()}": the engine's own timeouts bound this migration`,
        {
          migration: name,
        },
      );
    }
    await run(sql, context);
  };
}

/**
 * The statements without the `BEGIN; … COMMIT;` blocks' own BEGIN and COMMIT (and a `SET
 * TRANSACTION` right after a BEGIN, which cannot run once the engine's transaction has begun). Tools
 * send such a file in one piece, where each block is a transaction of its own (Prisma writes one
 * around an enum change; golang-migrate files often wrap themselves whole); here the whole file is
 * one transaction, which holds every block's all-or-nothing. A block that never ends is refused, and
 * ROLLBACK, or a COMMIT outside a block, is left for the transaction-control refusal.
 */
function withoutTransactionBlocks(statements: readonly SqlStatement[], refuse: Refuse): SqlStatement[] {
  const kept: SqlStatement[] = [];
  let openedAt: SqlStatement | undefined;
  let justOpened = false;
  for (const statement of statements) {
    const command = transactionControlOf(statement);
    if (command === 'BEGIN' || command === 'START TRANSACTION') {
      if (openedAt) {
        throw refuse(
          statement.offset,
          `${command} inside the block that the ${transactionControlOf(openedAt)} above opened; end that block first.`,
        );
      }
      openedAt = statement;
      justOpened = true;
      continue;
    }
    if ((command === 'COMMIT' || command === 'END') && openedAt) {
      openedAt = undefined;
      justOpened = false;
      continue;
    }
    if (justOpened && /^\s*set\s+transaction\b/i.test(statement.code)) continue;
    justOpened = false;
    kept.push(statement);
  }
  if (openedAt) {
    throw refuse(
      openedAt.offset,
      `${transactionControlOf(openedAt)} opens a block that no COMMIT ends; add the COMMIT.`,
    );
  }
  return kept;
}
