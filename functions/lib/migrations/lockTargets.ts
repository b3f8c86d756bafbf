import { type SqlStatement, scanStatements, UnsplittableSql } from './sqlStatements.ts';

/** PostgreSQL's table-level lock modes, weakest first, as `pg_locks.mode` names them. */
export const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;

export type LockMode = (typeof LOCK_MODES)[number];

/**
 * The modes each mode conflicts with: PostgreSQL's documentation, "Explicit Locking", table
 * "Conflicting Lock Modes".
 */
const CONFLICTS: Record<LockMode, readonly LockMode[]> = {
  AccessShareLock: ['AccessExclusiveLock'],
  RowShareLock: ['ExclusiveLock', 'AccessExclusiveLock'],
  RowExclusiveLock: ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareUpdateExclusiveLock: [
    'ShareUpdateExclusiveLock',
    'ShareLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  ShareLock: [
    'RowExclusiveLock',
    'ShareUpdateExclusiveLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  ShareRowExclusiveLock: [
    'RowExclusiveLock',
    'ShareUpdateExclusiveLock',
    'ShareLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  ExclusiveLock: [
    'RowShareLock',
    'RowExclusiveLock',
    'ShareUpdateExclusiveLock',
    'ShareLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  AccessExclusiveLock: LOCK_MODES,
};

export function conflictingModes(mode: LockMode): readonly LockMode[] {
  return CONFLICTS[mode];
}

/**
 * A table lock a migration's statement will ask for: the relation as written (quoted, maybe
 * schema-qualified, resolved on the server with the session's search_path; an index stands for its
 * table) and the mode.
 */
export interface LockTarget {
  relation: string;
  mode: LockMode;
}

/**
 * The table locks statements already split ask for (a SQL migration's, as its loader read them),
 * the strongest mode per relation. What their words cannot tell (a DO block, a function call) is
 * left out: the engine then learns the table from a lock timeout, or falls back to its schedule.
 */
export function lockTargetsOfStatements(statements: readonly SqlStatement[]): LockTarget[] {
  const strongest = new Map<string, LockMode>();
  for (const target of statements.flatMap((statement) => targetsOfTokens(tokensOf(statement)))) {
    const known = strongest.get(target.relation);
    if (!known || LOCK_MODES.indexOf(target.mode) > LOCK_MODES.indexOf(known)) {
      strongest.set(target.relation, target.mode);
    }
  }
  return [...strongest].map(([relation, mode]) => ({ relation, mode }));
}

/**
 * The table locks one SQL text (one statement or several, such as the statement a lock timeout
 * stopped) asks for, as far as its words say: the DDL and DML a migration runs (ALTER/DROP/
 * TRUNCATE/LOCK TABLE, CREATE/DROP INDEX, triggers, REFERENCES, REFRESH, UPDATE/DELETE/INSERT…).
 */
export function lockTargetsOf(text: string): LockTarget[] {
  try {
    return lockTargetsOfStatements([...scanStatements(text)]);
  } catch (error) {
    if (error instanceof UnsplittableSql) return [];
    throw error;
  }
}

/** A word (lower-cased), a quoted identifier (as written) or one punctuation character. */
type Token = { text: string; word?: string };

function tokensOf({ sql, code }: SqlStatement): Token[] {
  const tokens: Token[] = [];
  // `code` blanks literals, comments and the inside of quoted identifiers: its words are the
  // statement's words; a quoted identifier is read back from `sql` at the same offsets.
  for (const match of code.matchAll(/"[^"]*"|[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*|[^\s]/g)) {
    const raw = match[0];
    if (raw.startsWith('"')) tokens.push({ text: sql.slice(match.index, match.index + raw.length) });
    else if (/^[A-Za-z_\u0080-\uffff]/.test(raw)) tokens.push({ text: raw, word: raw.toLowerCase() });
    else tokens.push({ text: raw });
  }
  return tokens;
}

class Reader {
  private position = 0;
  private readonly tokens: Token[];

  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  /** Consumes the words if they come next, in order. */
  accept(...words: string[]): boolean {
    if (!words.every((word, i) => this.tokens[this.position + i]?.word === word)) return false;
    this.position += words.length;
    return true;
  }

  /** An identifier path (`a`, `s.a`, `"S"."A"`), or undefined when none comes next. */
  name(): string | undefined {
    const parts: string[] = [];
    for (;;) {
      const token = this.tokens[this.position];
      if (!token || !(token.word || token.text.startsWith('"'))) break;
      parts.push(token.text);
      this.position++;
      if (this.tokens[this.position]?.text !== '.') break;
      this.position++;
    }
    // A table is `name` or `schema.name`; anything longer (another database's) is not watched.
    return parts.length > 0 && parts.length <= 2 ? parts.join('.') : undefined;
  }

  /** Comma-separated names, as DROP TABLE, TRUNCATE and LOCK list them. */
  names(): string[] {
    const names: string[] = [];
    for (;;) {
      this.accept('only');
      const name = this.name();
      if (!name) break;
      names.push(name);
      if (this.tokens[this.position]?.text === '*') this.position++;
      if (this.tokens[this.position]?.text !== ',') break;
      this.position++;
    }
    return names;
  }

  rest(): Token[] {
    return this.tokens.slice(this.position);
  }
}

function targetsOfTokens(tokens: Token[]): LockTarget[] {
  const read = new Reader(tokens);
  const on = (names: string[], mode: LockMode) => names.map((relation) => ({ relation, mode }));
  if (read.accept('alter', 'table')) {
    read.accept('if', 'exists');
    read.accept('only');
    const table = read.name();
    return table ? alterTableTargets(table, read.rest()) : [];
  }
  if (read.accept('create')) {
    read.accept('or', 'replace');
    read.accept('unique');
    if (read.accept('index')) {
      const concurrently = read.accept('concurrently');
      const onAt = read.rest().findIndex((token) => token.word === 'on');
      if (onAt === -1) return [];
      const table = new Reader(read.rest().slice(onAt + 1));
      table.accept('only');
      const name = table.name();
      return name ? on([name], concurrently ? 'ShareUpdateExclusiveLock' : 'ShareLock') : [];
    }
    read.accept('constraint');
    if (read.accept('trigger')) {
      const onAt = read.rest().findIndex((token) => token.word === 'on');
      const name = onAt === -1 ? undefined : new Reader(read.rest().slice(onAt + 1)).name();
      return name ? on([name], 'ShareRowExclusiveLock') : [];
    }
    // CREATE TABLE … REFERENCES other, … PARTITION OF parent.
    return [
      ...on(referencedTables(read.rest()), 'ShareRowExclusiveLock'),
      ...on(partitionParent(read.rest()), 'AccessExclusiveLock'),
    ];
  }
  if (read.accept('drop', 'index')) {
    read.accept('concurrently');
    read.accept('if', 'exists');
    return on(read.names(), 'AccessExclusiveLock');
  }
  if (read.accept('drop', 'trigger')) {
    read.accept('if', 'exists');
    const onAt = read.rest().findIndex((token) => token.word === 'on');
    const name = onAt === -1 ? undefined : new Reader(read.rest().slice(onAt + 1)).name();
    return name ? on([name], 'AccessExclusiveLock') : [];
  }
  if (read.accept('drop', 'table') || read.accept('drop', 'materialized', 'view')) {
    read.accept('if', 'exists');
    return on(read.names(), 'AccessExclusiveLock');
  }
  if (read.accept('truncate')) {
    read.accept('table');
    return on(read.names(), 'AccessExclusiveLock');
  }
  if (read.accept('lock')) {
    read.accept('table');
    const names = read.names();
    return on(names, lockStatementMode(read.rest()));
  }
  if (read.accept('refresh', 'materialized', 'view')) {
    const concurrently = read.accept('concurrently');
    return on(read.names(), concurrently ? 'ExclusiveLock' : 'AccessExclusiveLock');
  }
  if (read.accept('alter', 'index')) {
    read.accept('if', 'exists');
    const name = read.name();
    return name ? on([name], 'AccessExclusiveLock') : [];
  }
  if (read.accept('cluster')) {
    read.accept('verbose');
    return on(read.names().slice(0, 1), 'AccessExclusiveLock');
  }
  if (read.accept('reindex', 'table')) {
    const concurrently = read.accept('concurrently');
    return on(read.names(), concurrently ? 'ShareUpdateExclusiveLock' : 'ShareLock');
  }
  if (read.accept('update') || read.accept('delete', 'from') || read.accept('insert', 'into')) {
    return on(read.names().slice(0, 1), 'RowExclusiveLock');
  }
  return [];
}

/**
 * ALTER TABLE takes ACCESS EXCLUSIVE unless every subcommand is one of the few that take less
 * (PostgreSQL's ALTER TABLE page): VALIDATE CONSTRAINT, SET STATISTICS, storage parameters,
 * CLUSTER ON take SHARE UPDATE EXCLUSIVE; a foreign key SHARE ROW EXCLUSIVE, on the referenced
 * table too; ATTACH PARTITION SHARE UPDATE EXCLUSIVE on the parent and ACCESS EXCLUSIVE on the
 * partition.
 */
function alterTableTargets(table: string, rest: Token[]): LockTarget[] {
  const targets: LockTarget[] = [];
  let mode: LockMode | undefined;
  const raise = (next: LockMode) => {
    if (!mode || LOCK_MODES.indexOf(next) > LOCK_MODES.indexOf(mode)) mode = next;
  };
  for (const subcommand of splitTopLevel(rest)) {
    const words = subcommand.map((token) => token.word ?? token.text).join(' ');
    const referenced = referencedTables(subcommand);
    targets.push(...referenced.map((relation) => ({ relation, mode: 'ShareRowExclusiveLock' as const })));
    if (/^validate constraint\b/.test(words) || /^(set|reset) \(/.test(words)) {
      raise('ShareUpdateExclusiveLock');
    } else if (/^(cluster on|set without cluster)\b/.test(words)) {
      raise('ShareUpdateExclusiveLock');
    } else if (/^alter (column )?\S+ set statistics\b/.test(words)) {
      raise('ShareUpdateExclusiveLock');
    } else if (/^add (constraint \S+ )?foreign key\b/.test(words)) {
      raise('ShareRowExclusiveLock');
    } else if (/^attach partition\b/.test(words)) {
      raise('ShareUpdateExclusiveLock');
      const partition = new Reader(subcommand.slice(2)).name();
      if (partition) targets.push({ relation: partition, mode: 'AccessExclusiveLock' });
    } else {
      raise('AccessExclusiveLock');
    }
  }
  return [{ relation: table, mode: mode ?? 'AccessExclusiveLock' }, ...targets];
}

/** Splits tokens at commas outside parentheses: ALTER TABLE's subcommands. */
function splitTopLevel(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const token of tokens) {
    if (token.text === '(') depth++;
    if (token.text === ')') depth = Math.max(0, depth - 1);
    if (token.text === ',' && depth === 0) parts.push([]);
    else parts.at(-1)?.push(token);
  }
  return parts.filter((part) => part.length > 0);
}

function referencedTables(tokens: Token[]): string[] {
  const names: string[] = [];
  tokens.forEach((token, i) => {
    if (token.word !== 'references') return;
    const name = new Reader(tokens.slice(i + 1)).name();
    if (name) names.push(name);
  });
  return names;
}

function partitionParent(tokens: Token[]): string[] {
  const at = tokens.findIndex((token, i) => token.word === 'partition' && tokens[i + 1]?.word === 'of');
  const name = at === -1 ? undefined : new Reader(tokens.slice(at + 2)).name();
  return name ? [name] : [];
}

/** `LOCK t IN <mode> MODE`; ACCESS EXCLUSIVE when no mode is given. */
function lockStatementMode(rest: Token[]): LockMode {
  const words = rest.map((token) => token.word ?? token.text).join(' ');
  const spelled = /^in (.+?) mode\b/.exec(words)?.[1];
  const byWords: Record<string, LockMode> = {
    'access share': 'AccessShareLock',
    'row share': 'RowShareLock',
    'row exclusive': 'RowExclusiveLock',
    'share update exclusive': 'ShareUpdateExclusiveLock',
    share: 'ShareLock',
    'share row exclusive': 'ShareRowExclusiveLock',
    exclusive: 'ExclusiveLock',
    'access exclusive': 'AccessExclusiveLock',
  };
  return (spelled && byWords[spelled]) || 'AccessExclusiveLock';
}
