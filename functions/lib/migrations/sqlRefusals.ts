import type { SqlStatement } from './sqlStatements.ts';

/**
 * The statements of a SQL migration refused before anything runs: what cannot run through a
 * driver at all, and what would undo the engine's transaction or its timeouts. Each check reads
 * a statement's `code` (comments and literals blanked), so a word in a string or a comment between
 * two keywords (`COMMIT/* x *\/AND CHAIN`) neither hides nor fakes a command.
 */

/** Why the statement cannot run in any migration, if it cannot. */
export function unrunnableProblem(statement: SqlStatement): string | undefined {
  const code = statement.code.toLowerCase();
  if (!/^\s*copy\b/.test(code)) return undefined;
  if (/\bfrom\s+stdin\b/.test(code)) {
    return (
      'COPY … FROM STDIN cannot run in a migration: its data rows are psql input that no driver sends, ' +
      'so the run would wait for them forever, holding its locks. Load data with INSERT or a batched migration.'
    );
  }
  if (/\bto\s+stdout\b/.test(code)) {
    return 'COPY … TO STDOUT cannot run in a migration: its output would stream into nowhere. Remove it.';
  }
  return undefined;
}

/**
 * The transaction-control command a statement is, if any: those end or replace the transaction a
 * migration runs in. `SAVEPOINT`, `RELEASE` and `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT]` stay
 * inside it and are fine.
 */
export function transactionControlOf(statement: SqlStatement): string | undefined {
  const [first = '', second = '', third = ''] = statement.code
    .trim()
    .toLowerCase()
    .split(/[^a-z_]+/, 3);
  switch (first) {
    case 'begin':
      return second === 'atomic' ? undefined : 'BEGIN';
    case 'start':
      return second === 'transaction' ? 'START TRANSACTION' : undefined;
    case 'commit':
      return second === 'prepared' ? 'COMMIT PREPARED' : 'COMMIT';
    case 'end':
    case 'abort':
      return first.toUpperCase();
    case 'rollback': {
      const next = second === 'work' || second === 'transaction' ? third : second;
      if (next === 'to') return undefined;
      return next === 'prepared' ? 'ROLLBACK PREPARED' : 'ROLLBACK';
    }
    case 'prepare':
      return second === 'transaction' ? 'PREPARE TRANSACTION' : undefined;
    default:
      return undefined;
  }
}

/** The timeouts the engine sets for each attempt of a transactional migration. */
const ENGINE_TIMEOUTS = ['lock_timeout', 'statement_timeout'];

/**
 * The engine timeout a statement changes, if any (`SET [SESSION|LOCAL] lock_timeout`, its `RESET`,
 * `RESET ALL`, or `set_config('lock_timeout', …)`): inside the engine's transaction it would lift
 * the cap on how long the app's queries queue behind the migration's lock requests.
 */
export function engineTimeoutChangedBy(statement: SqlStatement): string | undefined {
  const code = statement.code.toLowerCase();
  const set = /^\s*(?:set\s+(?:session\s+|local\s+)?|reset\s+)([a-z_]+)\b/.exec(code)?.[1];
  if (set && ENGINE_TIMEOUTS.includes(set)) return set;
  if (set === 'all' && /^\s*reset/.test(code)) return ENGINE_TIMEOUTS.join(' and ');
  // set_config's first argument is a literal, blanked in `code`: read it from the SQL as written.
  for (const call of code.matchAll(/\bset_config\s*\(\s*'/g)) {
    const quote = call.index + call[0].length - 1;
    const name = /^'([^']*)'/.exec(statement.sql.slice(quote))?.[1]?.trim().toLowerCase();
    if (name && ENGINE_TIMEOUTS.includes(name)) return name;
  }
  return undefined;
}

/** Commands PostgreSQL refuses inside a transaction block ("cannot run inside a transaction block"). */
const OUTSIDE_TRANSACTION_ONLY: [RegExp, string][] = [
  [/^create\s+(?:unique\s+)?index\s+concurrently\b/, 'CREATE INDEX CONCURRENTLY'],
  [/^drop\s+index\s+concurrently\b/, 'DROP INDEX CONCURRENTLY'],
  [/^reindex\b[^;]*\bconcurrently\b/, 'REINDEX CONCURRENTLY'],
  [/^reindex\s+(?:\([^)]*\)\s*)?(?:system|database)\b/, 'REINDEX DATABASE'],
  [/^alter\s+table\b[^;]*\bdetach\s+partition\b[^;]*\bconcurrently\b/, 'DETACH PARTITION CONCURRENTLY'],
  [/^vacuum\b/, 'VACUUM'],
  [/^(?:create|drop)\s+(?:database|tablespace)\b/, 'CREATE/DROP DATABASE or TABLESPACE'],
  [/^alter\s+database\b[^;]*\bset\s+tablespace\b/, 'ALTER DATABASE … SET TABLESPACE'],
  [/^alter\s+system\b/, 'ALTER SYSTEM'],
  [/^(?:create|drop)\s+subscription\b/, 'CREATE/DROP SUBSCRIPTION'],
  [/^cluster(?:\s+verbose)?\s*$/, 'CLUSTER of every table'],
  [/^discard\s+all\b/, 'DISCARD ALL'],
];

/** The command, if the statement is one PostgreSQL only runs outside a transaction block. */
export function outsideTransactionOnly(statement: SqlStatement): string | undefined {
  const code = statement.code.trim().toLowerCase().replace(/\s+/g, ' ');
  return OUTSIDE_TRANSACTION_ONLY.find(([pattern]) => pattern.test(code))?.[1];
}
