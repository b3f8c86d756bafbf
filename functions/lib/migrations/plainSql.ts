import { readFile } from 'node:fs/promises';
import type { MigrationFile, PlainSqlSource } from './files.ts';
import { refuseEscapes, refuserFor, runnerOf, statementsOf } from './sqlFile.ts';
import { outsideTransactionOnly, transactionControlOf, unrunnableProblem } from './sqlRefusals.ts';
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
 * decides where a script sets it; golang-migrate's `BEGIN; … COMMIT;` wrapping becomes the engine's
 * transaction; any other transaction control or timeout change in a transactional file is refused.
 */
export async function loadPlainSqlMigration(
  file: MigrationFile & { plainSql: PlainSqlSource },
): Promise<MigrationModule> {
  const source = file.plainSql;
  const up = plainRunner(file.name, await readFile(file.path, 'utf8'), source, source.transaction);
  if (source.downPath === undefined) return { up: up.run, down: undefined, transaction: up.transactional };
  const down = plainRunner(
    `${file.name} (down)`,
    await readFile(source.downPath, 'utf8'),
    source,
    source.downTransaction,
  );
  return { up: up.run, down: down.run, transaction: up.transactional, downTransaction: down.transactional };
}

function plainRunner(
  name: string,
  text: string,
  source: PlainSqlSource,
  transactionSetting: boolean | undefined,
): { run: MigrationFunction; transactional: boolean } {
  // Editors on Windows save a byte-order mark, which PostgreSQL would take for part of the first word.
  const sql = text.replace(/^\uFEFF/, '');
  const refuse = refuserFor(name, sql);
  let statements: SqlStatement[] = [];
  for (const statement of statementsOf(sql, 0, sql.length, refuse)) {
    const unrunnable = unrunnableProblem(statement);
    if (unrunnable) throw refuse(statement.offset, unrunnable);
    statements.push(statement);
  }
  if (source.unwrapTransaction) statements = unwrapped(statements);
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
    for (const statement of statements) refuseEscapes(statement, refuse, optOut);
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
  return { run: runnerOf(statements), transactional };
}

/** The statements inside a `BEGIN; … COMMIT;` that wraps the whole file, else all of them. */
function unwrapped(statements: SqlStatement[]): SqlStatement[] {
  const first = statements[0];
  const last = statements.at(-1);
  if (!first || !last || first === last) return statements;
  const opens = transactionControlOf(first);
  const closes = transactionControlOf(last);
  if ((opens === 'BEGIN' || opens === 'START TRANSACTION') && (closes === 'COMMIT' || closes === 'END')) {
    return statements.slice(1, -1);
  }
  return statements;
}
