import { LOCK_MODES, type LockMode } from '../../functions/lib/migrations/lockTargets.ts';
import { formatDuration } from '../output.ts';
import type { HeldLock, ObservedStatement, TableRows } from './observe.ts';
import { addsJsonColumn, type Operation, operationOf } from './operations.ts';
import { type Severity, severityOf } from './rules.ts';
import type { SquawkFinding } from './squawk.ts';

/** One problem of one statement: what it is, what was measured, and what to do instead. */
export interface JudgedFinding {
  rule: string;
  severity: Exclude<Severity, 'off'>;
  message: string;
  help?: string;
  /** The statement, as the migration sent it (shortened). */
  statement?: string;
  /** Its index among the migration's statements. */
  statementIndex?: number;
  lock?: HeldLock;
  /** What the lock was held through, measured on the scratch database. */
  measured?: { heldMs: number; rows: number; rewrote: string[]; expectedMs?: number };
  /** squawk's rules that found the same problem, merged into this finding. */
  squawk?: string[];
}

/**
 * squawk's rules about locks, rewrites and timeouts, which the measurement decides instead: one
 * the measurement disproves (a type change that rewrote nothing) is cleared, and said so; one it
 * confirms is merged into the measured finding. The engine sets lock_timeout and statement_timeout
 * and owns the transaction, so those rules never apply.
 */
const MEASURED_BY_CHECK = new Set([
  'adding-field-with-default',
  'adding-foreign-key-constraint',
  'adding-not-nullable-field',
  'adding-required-field',
  'adding-serial-primary-key-field',
  'ban-drop-column',
  'ban-drop-table',
  'changing-column-type',
  'constraint-missing-not-valid',
  'disallowed-unique-constraint',
  'renaming-column',
  'renaming-table',
  'require-concurrent-index-creation',
  'require-concurrent-index-deletion',
  'require-lock-timeout',
  'require-statement-timeout',
  'transaction-nesting',
  'ban-concurrent-index-creation-in-transaction',
  'ban-drop-not-null',
]);

export interface JudgeOptions {
  severities: Record<string, Severity>;
  /** Production's row counts by table (`schema.table`), from `--stats-from`: the measured hold is scaled to them. */
  productionRows?: TableRows;
  /** A lock expected to be held no longer than this at production size is a warning, not an error. */
  budgetMs: number;
}

export interface Judgement {
  findings: JudgedFinding[];
  /** squawk findings the measurement disproved, each with why. */
  cleared: string[];
}

/**
 * Judges a migration by what its statements did: a lock that blocks the app, held while rows of an
 * existing table are scanned, written or rewritten (by that statement or a later one of the same
 * transaction), stalls the app for as long as that work takes at production size: an error. A lock
 * held for an instant is not a finding. Contract changes (dropping or renaming what the running app
 * uses) and `json` columns are errors whatever is measured. squawk's findings on the same statement
 * are merged into one finding; the lock and rewrite rules it guesses from the text are cleared when
 * the measurement disproves them; its other rules stand.
 */
export function judgeMigration(
  statements: readonly ObservedStatement[],
  tableRows: TableRows,
  squawk: readonly SquawkFinding[],
  { severities, productionRows, budgetMs }: JudgeOptions,
): Judgement {
  const findings: JudgedFinding[] = [];
  const cleared: string[] = [];
  const own = statements
    .map((statement, index) => ({ statement, index }))
    .filter(({ statement }) => !statement.byEngine);
  for (const [position, { statement, index }] of own.entries()) {
    const operation = operationOf(statement.sql);
    const lintedHere = squawk.filter((finding) => finding.statement === index);
    const harm = harmOf(
      statement,
      own.slice(position).map((entry) => entry.statement),
      tableRows,
    );
    const expected = harm && productionRows ? expectedHold(harm, tableRows, productionRows) : undefined;
    // Dropping or renaming what the running app uses matters only for what existed before this migration.
    const contract = operation?.contract && changesExisting(statement.sql, tableRows) ? operation : undefined;
    const judged = harm
      ? harmFinding(statement, operation, harm, expected)
      : contract
        ? contractFinding(contract)
        : addsJsonColumn(statement.sql)
          ? jsonFinding()
          : undefined;
    // A contract change is a problem of its own, beside the lock it holds.
    if (harm && contract && judged?.rule !== contract.rule) {
      const severity = severityOf(contract.rule, severities);
      if (severity !== 'off') {
        findings.push({
          ...contractFinding(contract),
          severity,
          statement: shorten(statement.sql),
          statementIndex: index,
        });
      }
    }
    const merged: string[] = [];
    for (const finding of lintedHere) {
      if (MEASURED_BY_CHECK.has(finding.rule) && judged) {
        merged.push(finding.rule);
      } else if (!MEASURED_BY_CHECK.has(finding.rule) || !statement.measured || !statement.inTransaction) {
        // A rule the measurement does not decide stands; so does any rule on a statement that failed,
        // or that ran outside a transaction (its locks were gone and its rows uncounted: nothing disproves it).
        const severity = severityOf(finding.rule, severities);
        if (severity !== 'off') {
          findings.push({
            rule: finding.rule,
            severity,
            message: finding.message,
            ...(finding.help ? { help: finding.help } : {}),
            statement: shorten(statement.sql),
            statementIndex: index,
          });
        }
      } else if (!finding.rule.startsWith('require-') && finding.rule !== 'transaction-nesting') {
        cleared.push(
          `squawk's ${finding.rule} on "${shorten(statement.sql, 80)}": cleared, ${clearedBecause(statement)}`,
        );
      }
    }
    if (!judged) continue;
    const configured = severityOf(judged.rule, severities);
    if (configured === 'off') continue;
    // At production size the lock is held briefly: worth knowing, not worth failing the build.
    const severity = expected && expected.ms <= budgetMs ? 'warning' : configured;
    findings.push({
      ...judged,
      severity,
      statement: shorten(statement.sql),
      statementIndex: index,
      ...(merged.length > 0 ? { squawk: merged } : {}),
    });
  }
  return { findings, cleared };
}

interface Harm {
  lock?: HeldLock;
  heldMs: number;
  rows: number;
  rewrote: string[];
  /** The existing tables whose rows the held time was spent on: what scales it to production. */
  tables: string[];
  /** Every row of a table written in one transaction, without a blocking table lock. */
  rowLocks?: string;
}

/**
 * What the statement's blocking lock was held through: its own work and every later statement of
 * the same transaction, counted in rows of existing tables scanned, written or rewritten. Undefined
 * when the lock was held through no such work (an instant), or when there was no blocking lock and
 * no table had all its rows written.
 */
function harmOf(
  statement: ObservedStatement,
  rest: readonly ObservedStatement[],
  tableRows: TableRows,
): Harm | undefined {
  const through = statement.inTransaction ? sameTransaction(rest) : [statement];
  const rewrote = [...new Set(through.flatMap((s) => s.rewrites))];
  const rows =
    through.reduce((sum, s) => sum + total(s.rowsScanned) + total(s.rowsWritten), 0) +
    rewrote.reduce((sum, table) => sum + (tableRows[table] ?? 0), 0);
  const heldMs = through.reduce((sum, s) => sum + s.durationMs, 0);
  const tables = [
    ...new Set([
      ...rewrote,
      ...through.flatMap((s) => [...Object.keys(s.rowsScanned), ...Object.keys(s.rowsWritten)]),
    ]),
  ];
  const lock = strongest(statement.locks);
  if (lock && (rows > 0 || statement.rewrites.length > 0)) return { lock, heldMs, rows, rewrote, tables };
  if (statement.rewrites.length > 0) return { heldMs, rows, rewrote, tables };
  // Most of a table's rows written at once: each stays locked against other writers until commit.
  const bulk = Object.entries(statement.rowsWritten).find(
    ([table, written]) =>
      (tableRows[table] ?? 0) >= LARGE_TABLE_ROWS && written * 2 >= (tableRows[table] ?? 0),
  );
  if (bulk) return { heldMs, rows: bulk[1], rewrote: [], rowLocks: bulk[0], tables: [bulk[0]] };
  // Outside a transaction the lock is gone before it can be seen: an index build on a table with rows
  // holds it for as long as the build takes.
  const table = indexedTable(statement.sql);
  if (
    !statement.inTransaction &&
    table &&
    (tableRows[table] ?? 0) > 0 &&
    BUILDS_WITHOUT_CONCURRENTLY.test(codeStart(statement.sql))
  ) {
    return {
      heldMs: statement.durationMs,
      rows: tableRows[table] ?? 0,
      rewrote: [],
      lock: { relation: table, mode: 'ShareLock', blocks: 'writes' },
      tables: [table],
    };
  }
  return undefined;
}

/** Below this, writing most of a table's rows is a lookup table's few rows, not a backfill. */
const LARGE_TABLE_ROWS = 1000;

/** An index build that holds its lock for the whole build (not ON ONLY a partitioned table, which is instant). */
const BUILDS_WITHOUT_CONCURRENTLY =
  /^(?:create\s+(?:unique\s+)?index|reindex\b)(?!\s+concurrently)(?![\s\S]*\bconcurrently\b)(?![^;]*\bon\s+only\b)/i;

function codeStart(sql: string): string {
  return sql.replace(/^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, '');
}

/** The table an index statement builds on (`… ON [ONLY] name`), schema-qualified as the observer names tables. */
function indexedTable(sql: string): string | undefined {
  const name =
    /\bon\s+(?:only\s+)?((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)/i.exec(codeStart(sql))?.[1] ??
    /^\s*reindex\s+(?:\([^)]*\)\s*)?table\s+(?:concurrently\s+)?((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)/i.exec(
      codeStart(sql),
    )?.[1];
  return name === undefined ? undefined : qualified(name);
}

const TABLE_NAME = '((?:"[^"]+"|[\\w$]+)(?:\\.(?:"[^"]+"|[\\w$]+))?)';

/**
 * Whether a contract change is to a table that existed before the migration (an enum's value always
 * is): dropping or renaming a table the migration itself made breaks nothing that runs.
 */
function changesExisting(sql: string, tableRows: TableRows): boolean {
  const target = new RegExp(
    `^\\s*(?:alter|drop)\\s+table\\s+(?:if\\s+exists\\s+)?(?:only\\s+)?${TABLE_NAME}`,
    'i',
  );
  const names = sql
    .split(';')
    .map((part) => target.exec(codeStart(part))?.[1])
    .filter((name): name is string => name !== undefined);
  return names.length === 0 || names.some((name) => qualified(name) in tableRows);
}

/** A table name as the observer writes it: `schema.table`, unquoted where format('%I') would not quote. */
function qualified(name: string): string {
  const parts = name.split('.').map((part) => (part.startsWith('"') ? part : `"${part.toLowerCase()}"`));
  const [schema, table] = parts.length === 2 ? parts : ['"public"', parts[0]];
  return `${unquoteSimple(schema as string)}.${unquoteSimple(table as string)}`;
}

/** format('%I') writes a plain lower-case name unquoted. */
function unquoteSimple(quoted: string): string {
  const inner = quoted.slice(1, -1);
  return /^[a-z_][a-z0-9_$]*$/.test(inner) ? inner : quoted;
}

/** The statements from this one on that ran in its transaction (they follow each other, all in one). */
function sameTransaction(rest: readonly ObservedStatement[]): ObservedStatement[] {
  const end = rest.findIndex((s) => !s.inTransaction);
  return end === -1 ? [...rest] : rest.slice(0, end);
}

/** The hold scaled to production's row counts: by the largest growth among the tables worked on. */
interface ExpectedHold {
  ms: number;
  table: string;
  rows: number;
}

function expectedHold(harm: Harm, tableRows: TableRows, productionRows: TableRows): ExpectedHold | undefined {
  let expected: ExpectedHold | undefined;
  for (const table of harm.tables) {
    const rows = productionRows[table];
    if (rows === undefined) continue;
    const ms = harm.heldMs * (rows / Math.max(1, tableRows[table] ?? 0));
    if (!expected || ms > expected.ms) expected = { ms, table, rows };
  }
  return expected;
}

function harmFinding(
  statement: ObservedStatement,
  operation: Operation | undefined,
  harm: Harm,
  expected: ExpectedHold | undefined,
): Omit<JudgedFinding, 'severity'> {
  // A lock held through what later statements do is the problem, not what this statement is.
  // Outside a transaction its rows cannot be counted: the lock it held was its own.
  const ownWork =
    !statement.inTransaction ||
    statement.rewrites.length > 0 ||
    total(statement.rowsScanned) + total(statement.rowsWritten) > 0;
  const known = ownWork || !harm.lock ? operation : undefined;
  const rule =
    known?.rule ??
    (harm.rewrote.length > 0 && ownWork
      ? 'table-rewrite'
      : harm.rowLocks
        ? 'full-table-write'
        : 'lock-held-through-work');
  const held = `${Math.round(harm.heldMs)} ms through ${harm.rows.toLocaleString('en')} rows here`;
  const perRows =
    (harm.rows > 0 ? `, ~${Math.round((harm.heldMs / harm.rows) * 100_000)} ms per 100k rows` : '') +
    (expected
      ? `: about ${formatDuration(expected.ms)} at production's ${expected.rows.toLocaleString('en')} rows of ${expected.table}`
      : '');
  const what =
    known?.what ??
    (ownWork
      ? 'holds its lock while rows of an existing table are read or written'
      : 'takes a lock and holds it through the statements after it');
  const message = harm.lock
    ? `${what}: ${harm.lock.mode} on ${harm.lock.relation} blocks ${harm.lock.blocks}, held ${held}${perRows}${harm.rewrote.length > 0 ? `; rewrote ${harm.rewrote.join(', ')}` : ''}.`
    : harm.rowLocks
      ? `${what}: every row of ${harm.rowLocks} stays locked against other writes until it commits (${held}${perRows}).`
      : `${what}: rewrote ${harm.rewrote.join(', ')} (${held}${perRows}).`;
  return {
    rule,
    message,
    help: known?.advice ?? adviceWithout(statement, harm),
    ...(harm.lock ? { lock: harm.lock } : {}),
    measured: {
      heldMs: Math.round(harm.heldMs),
      rows: harm.rows,
      rewrote: harm.rewrote,
      ...(expected ? { expectedMs: Math.round(expected.ms) } : {}),
    },
  };
}

/** Advice when the statement is not one `operationOf` knows: from what was measured. */
function adviceWithout(statement: ObservedStatement, harm: Harm): string {
  if (harm.rewrote.length > 0) {
    return 'Avoid the rewrite: add a new column or table, backfill it in batches (inBatches), and switch over in a later release.';
  }
  if (statement.inTransaction && harm.lock) {
    return 'The lock is held until the migration commits: move what follows it (a VALIDATE, a backfill, a scan) into a later migration, a backfill in batches (inBatches), so that this lock is held for an instant.';
  }
  return 'Do the work in batches (inBatches) so that no lock is held for long.';
}

function contractFinding(operation: Operation): Omit<JudgedFinding, 'severity'> {
  return { rule: operation.rule, message: `${operation.what}.`, help: operation.advice };
}

function jsonFinding(): Omit<JudgedFinding, 'severity'> {
  return {
    rule: 'json-column',
    message:
      'adds a json column: json has no equality operator, so DISTINCT, UNION and GROUP BY over it fail, and it is parsed on every read.',
    help: 'Use jsonb.',
  };
}

function clearedBecause(statement: ObservedStatement): string {
  const lock = strongest(statement.locks);
  if (!lock) return 'it held no lock that blocks the app';
  return `its ${lock.mode} was held for an instant: no rows were scanned, written or rewritten`;
}

function strongest(locks: readonly HeldLock[]): HeldLock | undefined {
  const order = (lock: HeldLock) => LOCK_MODES.indexOf(lock.mode as LockMode);
  return [...locks].sort((a, b) => order(b) - order(a))[0];
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}

export function shorten(sql: string, most = 160): string {
  const oneLine = sql.replace(/\s+/g, ' ').trim();
  return oneLine.length > most ? `${oneLine.slice(0, most - 3)}...` : oneLine;
}
