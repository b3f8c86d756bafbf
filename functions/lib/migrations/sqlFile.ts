import { MigrationInvalid } from '../errors.ts';
import { lineAt, splitStatementsAt, transactionControlOf } from './sqlStatements.ts';
import type { MigrationFunction, MigrationModule } from './types.ts';

export { splitStatements } from './sqlStatements.ts';

const UP_MARKER = /^--\s*migrate:up(?=\s|$)(.*)$/m;
const DOWN_MARKER = /^--\s*migrate:down(?=\s|$)(.*)$/m;

/**
 * Parses a dbmate-style SQL migration, as dbmate reads it: the up section runs from the first
 * `-- migrate:up` to the first `-- migrate:down`, the down section from there to the end (a repeated
 * marker inside a section is a comment of that section). `transaction:false` on a marker runs that
 * section outside a transaction. An empty down section is a deliberate no-op; no down section at
 * all means the migration cannot be reverted. Refused, naming the line: statements before the up
 * marker, a down marker before it, and transaction control (BEGIN, COMMIT, ROLLBACK…) in a section
 * that runs inside the engine's transaction, where it would end that transaction early.
 */
export function parseSqlMigration(name: string, source: string): MigrationModule {
  const refuse = (offset: number, problem: string) => {
    const line = lineAt(source, offset);
    return new MigrationInvalid(`${name}:${line}: ${problem}`, { migration: name, line, problem });
  };
  const up = UP_MARKER.exec(source);
  if (!up) {
    throw refuse(0, 'it has no "-- migrate:up" section. Put "-- migrate:up" above the statements to apply.');
  }
  const down = DOWN_MARKER.exec(source);
  if (down && down.index < up.index) {
    throw refuse(down.index, '"-- migrate:down" comes before "-- migrate:up"; put the up section first.');
  }
  // Comments blanked out in place, so that an offset in `before` is one in `source`.
  const before = source
    .slice(0, up.index)
    .replace(/--.*$|\/\*[\s\S]*?\*\//gm, (comment) => comment.replace(/[^\n]/g, ' '));
  const offset = before.search(/\S/);
  if (offset !== -1) {
    throw refuse(
      offset,
      'statements precede "-- migrate:up"; they would never run. Move them into the up section.',
    );
  }
  const upStart = up.index + up[0].length;
  const upEnd = down ? down.index : source.length;
  const upTransactional = !noTransactionOption(up[1] ?? '');
  const downTransactional = down ? !noTransactionOption(down[1] ?? '') && upTransactional : upTransactional;
  const upRunner = sectionRunner(source, upStart, upEnd, upTransactional, refuse);
  const downRunner = down
    ? sectionRunner(source, down.index + down[0].length, source.length, downTransactional, refuse)
    : undefined;
  return {
    up: upRunner,
    down: downRunner,
    transaction: upTransactional,
    // dbmate reads the option per section: a down may need it when its up does not.
    ...(down ? { downTransaction: downTransactional } : {}),
  };
}

function noTransactionOption(options: string): boolean {
  return /(?:^|\s)transaction:false(?:\s|$)/.test(options);
}

function sectionRunner(
  source: string,
  start: number,
  end: number,
  transactional: boolean,
  refuse: (offset: number, problem: string) => MigrationInvalid,
): MigrationFunction {
  const statements = splitStatementsAt(source.slice(start, end)).map((statement) => ({
    ...statement,
    offset: statement.offset + start,
  }));
  if (transactional) {
    for (const statement of statements) {
      const command = transactionControlOf(statement.sql);
      if (command) {
        throw refuse(
          statement.offset,
          `${command} inside a section that runs in the engine's transaction would end that transaction early ` +
            '(its timeouts and its all-or-nothing with the history row). Remove it: the engine already wraps ' +
            'the section in one transaction. To manage transactions yourself, mark the section "transaction:false".',
        );
      }
    }
  }
  return async (sql) => {
    // Each statement goes alone: outside a transaction PostgreSQL would run a multi-statement query in
    // an implicit transaction, where CREATE INDEX CONCURRENTLY is refused; inside one, errors point at
    // the statement and `check` can tell which statement took which lock.
    for (const statement of statements) await sql.unsafe(statement.sql);
  };
}
