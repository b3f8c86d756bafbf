import { scanStatements } from '../../functions/lib/migrations/sqlStatements.ts';

/**
 * What a statement does, told from its SQL, and the advice that fits it. The measurement says
 * whether a statement hurts (a lock held through a scan, a write of every row, a rewrite); this
 * says what it is, so that a type change is not told to build an index concurrently, and a UNIQUE
 * constraint is not told to use NOT VALID (PostgreSQL refuses it).
 */
export interface Operation {
  /** A stable name: the rule a finding carries. */
  rule: string;
  /** What it is, for the message. */
  what: string;
  advice: string;
  /** Harmful whatever is measured: the running app still uses what it removes or renames. */
  contract?: boolean;
}

const OPERATIONS: [RegExp, Operation][] = [
  [
    /^create\s+(?:unique\s+)?index\b[^;]*?\bon\s+only\b/,
    {
      rule: 'partitioned-index',
      what: 'builds an index on a partitioned table itself (ON ONLY), which is instant and left invalid until each partition has its own',
      advice:
        "Build each partition's index with CREATE INDEX CONCURRENTLY, then ALTER INDEX … ATTACH PARTITION each one: CONCURRENTLY is refused on the partitioned table itself.",
    },
  ],
  [
    /^(?:create\s+(?:unique\s+)?index|do\b[\s\S]*\bcreate\s+(?:unique\s+)?index)(?!\s+concurrently)/,
    {
      rule: 'non-concurrent-index',
      what: 'builds an index without CONCURRENTLY',
      advice:
        'Build it with CREATE INDEX CONCURRENTLY, alone in a migration that runs outside a transaction (`export const transaction = false`, or `-- migrate:up transaction:false`): writes go on while it builds.',
    },
  ],
  [
    /^reindex\b(?![\s\S]*\bconcurrently\b)/,
    {
      rule: 'non-concurrent-reindex',
      what: 'rebuilds indexes without CONCURRENTLY',
      advice: 'Use REINDEX INDEX CONCURRENTLY (PostgreSQL 12+) in a migration outside a transaction.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:constraint\s+\S+\s+)?primary\s+key\s+using\s+index\b/,
    {
      rule: 'primary-key-sets-not-null',
      what: 'adds a PRIMARY KEY over a column that may hold NULL, so PostgreSQL sets NOT NULL and scans every row under ACCESS EXCLUSIVE',
      advice:
        'Make the column NOT NULL first without a scan: add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration, SET NOT NULL; then ADD PRIMARY KEY USING INDEX is instant.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:constraint\s+\S+\s+)?(?:unique|primary\s+key)\b(?![\s\S]*\busing\s+index\b)/,
    {
      rule: 'constraint-builds-index',
      what: 'adds a UNIQUE or PRIMARY KEY constraint, which builds its index under the lock',
      advice:
        'PostgreSQL has no NOT VALID for UNIQUE or PRIMARY KEY: build the index with CREATE UNIQUE INDEX CONCURRENTLY in its own migration, then ADD CONSTRAINT … UNIQUE (or PRIMARY KEY) USING INDEX, which is instant.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:constraint\s+\S+\s+)?exclude\b/,
    {
      rule: 'exclusion-constraint',
      what: 'adds an EXCLUDE constraint, which builds its index and checks every row under ACCESS EXCLUSIVE',
      advice:
        'EXCLUDE constraints take neither NOT VALID nor USING INDEX: add it while the table is small or new, or in a maintenance window; or enforce the rule another way (a unique index over derived columns, a trigger).',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:constraint\s+\S+\s+)?(?:foreign\s+key|check)\b(?![\s\S]*\bnot\s+valid\b)/,
    {
      rule: 'constraint-validates-rows',
      what: 'adds a constraint that checks every existing row while it holds its lock',
      advice:
        'Add it NOT VALID (instant: only new rows are checked), then VALIDATE CONSTRAINT in a later migration, which takes only SHARE UPDATE EXCLUSIVE and lets reads and writes go on.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\balter\s+(?:column\s+)?\S+\s+set\s+not\s+null\b/,
    {
      rule: 'set-not-null-scans',
      what: 'sets NOT NULL, which scans every row under ACCESS EXCLUSIVE',
      advice:
        'Add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration, then SET NOT NULL: PostgreSQL 12+ uses the validated check and skips the scan (drop the check afterwards).',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\balter\s+(?:column\s+)?\S+\s+(?:set\s+data\s+)?type\b/,
    {
      rule: 'column-type-rewrite',
      what: 'changes a column type, which rewrites the table (and its indexes) under ACCESS EXCLUSIVE',
      advice:
        'Add a new column of the new type, keep both written (a trigger or the app), backfill it in batches (inBatches), switch reads to it, then drop the old column in a later release.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?\S+\s+(?:(?:big|small)?serial\b|[\s\S]*\bgenerated\s+(?:always|by\s+default)\s+as\s+(?:identity|\())/,
    {
      rule: 'add-column-rewrite',
      what: 'adds a column whose value is computed for every row (serial, identity, generated), which rewrites the table',
      advice:
        'Add the column nullable without a default, set its default for new rows, backfill the existing rows in batches (inBatches), then add the constraint it needs.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?(?!constraint\b)\S+\s+[^,]*\b(?:references|check)\b/,
    {
      rule: 'add-column-with-constraint',
      what: 'adds a column with a REFERENCES or CHECK constraint, which checks every existing row while it holds its lock',
      advice:
        'Add the column bare, then ADD CONSTRAINT … NOT VALID, and VALIDATE CONSTRAINT in a later migration (SHARE UPDATE EXCLUSIVE: reads and writes go on).',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\badd\s+(?:column\s+)?(?!constraint\b)/,
    {
      rule: 'add-column-rewrite',
      what: 'adds a column with a default that is computed per row (a volatile function), which rewrites the table',
      advice:
        'Add the column without a default (or with a constant one: PostgreSQL 11+ stores it without a rewrite), then backfill the existing rows in batches (inBatches) in a later migration.',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\bdrop\s+(?:column\s+)?(?!constraint\b|default\b|not\b|identity\b|expression\b)\S+/,
    {
      rule: 'drop-column',
      what: 'drops a column the running app may still read or write',
      contract: true,
      advice:
        'A contract change: first release the app without any use of the column (ignore it in the ORM), then drop it in a later release.',
    },
  ],
  [
    /^drop\s+table\b/,
    {
      rule: 'drop-table',
      what: 'drops a table the running app may still use',
      contract: true,
      advice:
        'A contract change: first release the app without any use of the table, then drop it in a later release (keep a backup or rename it aside first if the data may be wanted).',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\brename\s+(?:column\s+)?(?!to\b|constraint\b)\S+\s+to\b/,
    {
      rule: 'rename-column',
      what: 'renames a column: the running app still uses the old name',
      contract: true,
      advice:
        'Add a new column, write both, backfill, move the app to the new one, then drop the old one in a later release (or keep the old name and map it in the app).',
    },
  ],
  [
    /^alter\s+table\b[\s\S]*\brename\s+to\b/,
    {
      rule: 'rename-table',
      what: 'renames a table: the running app still uses the old name',
      contract: true,
      advice:
        'Create the new name as a view of the old table (or the other way round) so both names work for a release, move the app, then drop the view in a later release.',
    },
  ],
  [
    /^refresh\s+materialized\s+view\b(?!\s+concurrently)/,
    {
      rule: 'refresh-blocks-reads',
      what: 'refreshes a materialized view without CONCURRENTLY, which blocks every read of it until done',
      advice:
        'REFRESH MATERIALIZED VIEW CONCURRENTLY (it needs a unique index on the view): reads go on while it refreshes.',
    },
  ],
  [
    /^alter\s+type\b[\s\S]*\brename\s+value\b/,
    {
      rule: 'rename-enum-value',
      what: 'renames an enum value: the running app still reads and writes the old label',
      contract: true,
      advice:
        'Add the new value (ALTER TYPE … ADD VALUE), move the app and the rows to it in batches, and stop using the old one; an enum value cannot be dropped, so leave it unused.',
    },
  ],
  [
    /^vacuum\b[\s\S]*\bfull\b/,
    {
      rule: 'vacuum-full',
      what: 'VACUUM FULL rewrites the whole table under ACCESS EXCLUSIVE',
      advice:
        'Let plain VACUUM (autovacuum) reclaim space without blocking; to shrink a bloated table online, use pg_repack or pg_squeeze outside migrations.',
    },
  ],
  [
    /^cluster\b/,
    {
      rule: 'cluster',
      what: 'CLUSTER rewrites the table in index order under ACCESS EXCLUSIVE',
      advice:
        'Reorder online with pg_repack (--order-by) outside migrations, or leave the order to new data.',
    },
  ],
  [
    /^truncate\b/,
    {
      rule: 'truncate',
      what: 'TRUNCATE empties the table under ACCESS EXCLUSIVE, at once and for every reader',
      advice:
        'If the app still uses the table, delete its rows in batches (inBatches) instead; if it does not, release the app without it first, then drop or truncate it in a later release.',
    },
  ],
  [
    /^lock\s+(?:table\s+)?/,
    {
      rule: 'explicit-lock',
      what: 'takes an explicit lock that is held until the migration commits, through everything after it',
      advice:
        'Remove the LOCK TABLE: the engine already bounds each lock wait; do the work that follows in batches (inBatches) or in statements that need only brief locks.',
    },
  ],
  [
    /^(?:update|delete\s+from)\b/,
    {
      rule: 'full-table-write',
      what: 'writes most rows of the table in one transaction, locking each until it commits',
      advice:
        'Backfill in batches: a migration with `export const transaction = false` that calls inBatches, each batch a short transaction of a few thousand rows.',
    },
  ],
];

const JSON_COLUMN = /\bjson\b(?!b)/;

/**
 * The operation a query is, when it is one this knows. A query may hold several statements (a
 * module's `sql.unsafe('…; …')`): the operation listed first above wins, so that the statement
 * doing the work (a constraint's validation) names the finding rather than a brief one beside it.
 */
export function operationOf(sql: string): Operation | undefined {
  const codes = codesOf(sql);
  return OPERATIONS.find(([pattern]) => codes.some((code) => pattern.test(code)))?.[1];
}

/** Whether the statement adds a `json` (not `jsonb`) column. */
export function addsJsonColumn(sql: string): boolean {
  return codesOf(sql).some(
    (code) => /^(?:create\s+table|alter\s+table)\b/.test(code) && JSON_COLUMN.test(code),
  );
}

/** Each statement in lower case, comments and literals blanked (a DO block's body kept: it is code). */
function codesOf(sql: string): string[] {
  const normal = (text: string) => text.trim().toLowerCase().replace(/\s+/g, ' ');
  try {
    // A quoted identifier is blanked like a literal: it stands as a word again, so `"c"` is a name.
    return [...scanStatements(sql)].map((statement) =>
      /^\s*do\b/i.test(statement.code)
        ? normal(statement.sql)
        : normal(statement.code.replace(/"\s*"/g, 'x')),
    );
  } catch {
    // What the server ran, it could split; if this cannot, judge the text whole.
    return [normal(sql)];
  }
}
