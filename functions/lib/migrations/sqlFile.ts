import type { Sql } from 'postgres';
import { MigrationInvalid } from '../errors.ts';
import { type LockTarget, lockTargetsOfStatements } from './lockTargets.ts';
import { engineTimeoutChangedBy, transactionControlOf, unrunnableProblem } from './sqlRefusals.ts';
import { lineAt, type SqlStatement, scanStatements, UnsplittableSql } from './sqlStatements.ts';
import type { MigrationFunction, MigrationModule } from './types.ts';

export { splitStatements } from './sqlStatements.ts';

// dbmate's markers, `(?m)^--\s*migrate:up(\s*$|\s+\S+)`: at the start of a line, followed by
// whitespace or the end. Spelled out because Go's `\s` is these five characters only (JavaScript's
// also takes Unicode spaces) and Go's multi-line `^` follows "\n" only (JavaScript's also "\r").
const GO_SPACE = '\\t\\n\\f\\r ';
const markerPattern = (direction: 'up' | 'down') =>
  new RegExp(`(?<![^\\n])--[${GO_SPACE}]*migrate:${direction}(?![^${GO_SPACE}])`, 'g');
const UP_MARKER = markerPattern('up');
const DOWN_MARKER = markerPattern('down');

/** Builds the refusal of a statement of a migration's file, naming the line where it starts. */
export type Refuse = (offset: number, problem: string) => MigrationInvalid;

export function refuserFor(name: string, source: string): Refuse {
  return (offset, problem) => {
    const line = lineAt(source, offset);
    return new MigrationInvalid(`${name}:${line}: ${problem}`, { migration: name, line, problem });
  };
}

/**
 * Parses a dbmate-style SQL migration as dbmate (2.29 and later) reads it: each `-- migrate:up` starts
 * a section that runs to the next one, and holds at most one `-- migrate:down`, which splits it into
 * its up and its down. `transaction:false` on a marker runs that part outside a transaction; each
 * part reads its own marker. An empty down is a deliberate no-op; a file without any down marker is
 * forward-only (dbmate would refuse it); some sections with a down and others without are refused.
 *
 * The migration is one unit for the engine: up runs every section's up in file order, and if all of
 * them are transactional, in ONE transaction (dbmate gives each section its own: here a failure in
 * the second leaves nothing of the first). If any is `transaction:false`, up runs outside the
 * engine's transaction, its timeouts those of a `transaction = false` migration: each transactional
 * section in a transaction of its own, the others statement by statement. Down runs the sections'
 * downs the same way but in REVERSE order: dbmate runs them in file order, yet each down undoes its
 * own section's up, which a later section may build on (a column added to a table the first creates).
 *
 * Refused, naming the line: statements before the first up marker, a down marker before it, a
 * second down marker in a section, what psql would not send as SQL (meta-commands, an unterminated
 * quote or comment), `COPY … FROM STDIN`, and, in a transactional part, transaction control and
 * changes to the engine's timeouts.
 */
export function parseSqlMigration(name: string, text: string): MigrationModule {
  // Editors on Windows save a byte-order mark, which would hide the first marker.
  const source = text.replace(/^\uFEFF/, '');
  const refuse = refuserFor(name, source);
  // In file order, up then down of each section, so the first refusal is the first in the file.
  const parts = sectionsOf(source, refuse).map((section) => ({
    up: partOf(source, section.up, section.down?.index ?? section.end, refuse),
    down: section.down && partOf(source, section.down, section.end, refuse),
  }));
  const ups = parts.map((part) => part.up);
  const up = runnerOfParts(ups);
  const upLocks = locksOfParts(ups);
  const downs = parts.flatMap((part) => (part.down ? [part.down] : [])).reverse();
  if (downs.length === 0) return { up: up.run, down: undefined, transaction: up.transactional, upLocks };
  const down = runnerOfParts(downs);
  return {
    up: up.run,
    down: down.run,
    transaction: up.transactional,
    downTransaction: down.transactional,
    upLocks,
    downLocks: locksOfParts(downs),
  };
}

function locksOfParts(parts: readonly Part[]): LockTarget[] {
  return lockTargetsOfStatements(parts.flatMap((part) => part.statements));
}

/** A `-- migrate:up` or `-- migrate:down` line: where it starts, where its statements start, its option. */
interface Marker {
  index: number;
  bodyStart: number;
  transactional: boolean;
}

/** One section: its up marker, its down marker if it has one, and where the next section starts. */
interface Section {
  up: Marker;
  down: Marker | undefined;
  end: number;
}

/** The statements of one section's up or down, and whether they run in a transaction. */
interface Part {
  statements: SqlStatement[];
  transactional: boolean;
}

function sectionsOf(source: string, refuse: Refuse): Section[] {
  const ups = markersOf(source, UP_MARKER);
  const downs = markersOf(source, DOWN_MARKER);
  const [first] = ups;
  if (!first) {
    throw refuse(0, 'it has no "-- migrate:up" section. Put "-- migrate:up" above the statements to apply.');
  }
  const [firstDown] = downs;
  if (firstDown && firstDown.index < first.index) {
    throw refuse(
      firstDown.index,
      '"-- migrate:down" comes before "-- migrate:up"; put the up section first.',
    );
  }
  const [early] = statementsOf(source, 0, first.index, refuse);
  if (early) {
    throw refuse(
      early.offset,
      'statements precede "-- migrate:up"; they would never run. Move them into the up section.',
    );
  }
  const sections = ups.map((up, i) => {
    const end = ups[i + 1]?.index ?? source.length;
    const [down, second] = downs.filter((marker) => marker.index > up.index && marker.index < end);
    if (second) {
      throw refuse(
        second.index,
        `a second "-- migrate:down" in the section that starts at line ${lineAt(source, up.index)}; dbmate requires ` +
          'every "-- migrate:down" to be preceded by a "-- migrate:up". Start a new section with "-- migrate:up" ' +
          'above its statements, or merge the two downs.',
      );
    }
    return { up, down, end };
  });
  const withoutDown = sections.find((section) => !section.down);
  if (withoutDown && sections.some((section) => section.down)) {
    throw refuse(
      withoutDown.up.index,
      'this section has no "-- migrate:down" while others have one, so reverting could not undo it. Give every ' +
        'section a "-- migrate:down" (an empty one when there is nothing to undo), or none (a forward-only migration).',
    );
  }
  return sections;
}

function markersOf(source: string, pattern: RegExp): Marker[] {
  return [...source.matchAll(pattern)].map((match) => {
    const optionsStart = match.index + match[0].length;
    const lineEnd = source.indexOf('\n', optionsStart);
    const bodyStart = lineEnd === -1 ? source.length : lineEnd;
    return {
      index: match.index,
      bodyStart,
      transactional: !noTransactionOption(source.slice(optionsStart, bodyStart)),
    };
  });
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

function partOf(source: string, marker: Marker, end: number, refuse: Refuse): Part {
  const statements: SqlStatement[] = [];
  // Checked as they are split: a refused COPY … FROM STDIN stops the scan before its data rows.
  for (const statement of statementsOf(source, marker.bodyStart, end, refuse)) {
    const unrunnable = unrunnableProblem(statement);
    if (unrunnable) throw refuse(statement.offset, unrunnable);
    if (marker.transactional) refuseEscapes(statement, refuse);
    statements.push(statement);
  }
  return { statements, transactional: marker.transactional };
}

/**
 * Runs the parts in order: all transactional, as one list in the engine's transaction; otherwise
 * outside it, each transactional part all-or-nothing in a transaction of its own.
 */
function runnerOfParts(parts: readonly Part[]): { run: MigrationFunction; transactional: boolean } {
  if (parts.every((part) => part.transactional)) {
    return { run: runnerOf(parts.flatMap((part) => part.statements)), transactional: true };
  }
  const run: MigrationFunction = async (sql, context) => {
    for (const part of parts) {
      const runPart = runnerOf(part.statements);
      if (!part.transactional) await runPart(sql, context);
      // The engine hands a migration that runs outside its transaction the session itself (a
      // transaction's handle has no begin).
      else if (part.statements.length > 0) await (sql as Sql).begin((tx) => runPart(tx, context));
    }
  };
  return { run, transactional: false };
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
