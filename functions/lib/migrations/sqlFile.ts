import { MigrationInvalid } from '../errors.ts';
import { engineTimeoutChangedBy, transactionControlOf, unrunnableProblem } from './sqlRefusals.ts';
import { lineAt, type SqlStatement, scanStatements, UnsplittableSql } from './sqlStatements.ts';
import type { MigrationFunction, MigrationModule } from './types.ts';

export { splitStatements } from './sqlStatements.ts';

const UP_MARKER = /^--\s*migrate:up(?=\s|$)(.*)$/m;
const DOWN_MARKER = /^--\s*migrate:down(?=\s|$)(.*)$/m;

/** Builds the refusal of a statement of a migration's file, naming the line where it starts. */
export type Refuse = (offset: number, problem: string) => MigrationInvalid;

export function refuserFor(name: string, source: string): Refuse {
  return (offset, problem) => {
    const line = lineAt(source, offset);
    return new MigrationInvalid(`${name}:${line}: ${problem}`, { migration: name, line, problem });
  };
}

/**
 * Parses a dbmate-style SQL migration, as dbmate reads it: the up section runs from the first
 * `-- migrate:up` to the first `-- migrate:down`, the down section from there to the end (a repeated
 * marker inside a section is a comment of that section). `transaction:false` on a marker runs that
 * section outside a transaction; each section reads its own marker. An empty down section is a
 * deliberate no-op; no down section at all means the migration cannot be reverted. Refused, naming
 * the line: statements before the up marker, a down marker before it, what psql would not send as
 * SQL (meta-commands, an unterminated quote or comment), `COPY … FROM STDIN`, and, in a section that
 * runs inside the engine's transaction, transaction control and changes to the engine's timeouts.
 */
export function parseSqlMigration(name: string, text: string): MigrationModule {
  // Editors on Windows save a byte-order mark, which would hide the first marker.
  const source = text.replace(/^\uFEFF/, '');
  const refuse = refuserFor(name, source);
  const up = UP_MARKER.exec(source);
  if (!up) {
    throw refuse(0, 'it has no "-- migrate:up" section. Put "-- migrate:up" above the statements to apply.');
  }
  const down = DOWN_MARKER.exec(source);
  if (down && down.index < up.index) {
    throw refuse(down.index, '"-- migrate:down" comes before "-- migrate:up"; put the up section first.');
  }
  const [early] = statementsOf(source, 0, up.index, refuse);
  if (early) {
    throw refuse(
      early.offset,
      'statements precede "-- migrate:up"; they would never run. Move them into the up section.',
    );
  }
  const upTransactional = !noTransactionOption(up[1] ?? '');
  const upRunner = sectionRunner(
    source,
    up.index + up[0].length,
    down ? down.index : source.length,
    upTransactional,
    refuse,
  );
  if (!down) return { up: upRunner, down: undefined, transaction: upTransactional };
  const downTransactional = !noTransactionOption(down[1] ?? '');
  return {
    up: upRunner,
    down: sectionRunner(source, down.index + down[0].length, source.length, downTransactional, refuse),
    transaction: upTransactional,
    downTransaction: downTransactional,
  };
}

function noTransactionOption(options: string): boolean {
  return /(?:^|\s)transaction:false(?:\s|$)/.test(options);
}

/** The statements of `source` between `start` and `end`, one at a time, offsets in `source`. */
export function* statementsOf(
  source: string,
  start: number,
  end: number,
  refuse: Refuse,
): Generator<SqlStatement> {
  try {
    for (const statement of scanStatements(source.slice(start, end))) {
      yield { ...statement, offset: statement.offset + start };
    }
  } catch (error) {
    if (error instanceof UnsplittableSql) throw refuse(error.offset + start, error.problem);
    throw error;
  }
}

function sectionRunner(
  source: string,
  start: number,
  end: number,
  transactional: boolean,
  refuse: Refuse,
): MigrationFunction {
  const statements: SqlStatement[] = [];
  // Checked as they are split: a refused COPY … FROM STDIN stops the scan before its data rows.
  for (const statement of statementsOf(source, start, end, refuse)) {
    const unrunnable = unrunnableProblem(statement);
    if (unrunnable) throw refuse(statement.offset, unrunnable);
    if (transactional) refuseEscapes(statement, refuse);
    statements.push(statement);
  }
  return runnerOf(statements);
}

/** Runs the statements one by one, as written. */
export function runnerOf(statements: readonly SqlStatement[]): MigrationFunction {
  return async (sql) => {
    // Each statement goes alone: outside a transaction PostgreSQL would run a multi-statement query in
    // an implicit transaction, where CREATE INDEX CONCURRENTLY is refused; inside one, errors point at
    // the statement and `check` can tell which statement took which lock.
    for (const statement of statements) await sql.unsafe(statement.sql);
  };
}

/** What would take a statement of a transactional section out of the engine's transaction or its limits. */
export function refuseEscapes(
  statement: SqlStatement,
  refuse: Refuse,
  optOut = 'To manage transactions yourself, mark the section "transaction:false".',
): void {
  const command = transactionControlOf(statement);
  if (command) {
    throw refuse(
      statement.offset,
      `${command} inside a section that runs in the engine's transaction would end that transaction early ` +
        '(its timeouts and its all-or-nothing with the history row). Remove it: the engine already wraps ' +
        `the section in one transaction. ${optOut}`,
    );
  }
  const timeout = engineTimeoutChangedBy(statement);
  if (timeout) {
    throw refuse(
      statement.offset,
      `it changes ${timeout}: the engine sets it for each attempt of a transactional migration, to bound how long ` +
        "the app's queries can queue behind this migration's locks; remove it (pg_dump writes it in its preamble). " +
        'Raise --lock-timeout or --statement-timeout instead.',
    );
  }
}
