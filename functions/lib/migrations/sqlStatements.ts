/** A statement of a SQL text, with where it starts, so that errors can name its line. */
export interface SqlStatement {
  sql: string;
  /** Offset of the statement's first character in the text it was split from. */
  offset: number;
}

/**
 * Splits SQL text into statements at top-level semicolons, the way psql does: semicolons inside
 * quotes (`'…'`, `E'…\'…'`), quoted identifiers, dollar-quoted bodies, comments, and the
 * `BEGIN ATOMIC … END` body of a SQL-standard function or procedure do not end a statement.
 */
export function splitStatementsAt(text: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let start = 0;
  let i = 0;
  // psql's heuristic: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN and CASE open a block
  // that END closes; a semicolon ends the statement only outside such blocks.
  let words: string[] = [];
  let blockDepth = 0;
  const endStatement = (end: number) => {
    statements.push({ sql: text.slice(start, end), offset: start });
    words = [];
    blockDepth = 0;
  };
  while (i < text.length) {
    const char = text[i] as string;
    const next = text[i + 1];
    if (char === "'") {
      i = skipString(text, i, isEscapeStringPrefix(text, i));
    } else if (char === '"') {
      i = skipString(text, i, false);
    } else if (char === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
    } else if (char === '/' && next === '*') {
      i = skipBlockComment(text, i);
    } else if (char === '$') {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(
        text.slice(i, i + 200),
      )?.[0];
      if (tag) {
        const end = text.indexOf(tag, i + tag.length);
        i = end === -1 ? text.length : end + tag.length;
      } else {
        i++;
      }
    } else if (/[A-Za-z_\u0080-\uffff]/.test(char)) {
      // A whole word at once, so that a `$` inside an identifier never opens a dollar quote.
      const word =
        /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i, i + 200))?.[0] ?? char;
      blockDepth = trackRoutineBlocks(words, word.toLowerCase(), blockDepth);
      i += word.length;
    } else if (char === ';' && blockDepth === 0) {
      endStatement(i);
      start = ++i;
    } else {
      i++;
    }
  }
  endStatement(text.length);
  return statements
    .filter((statement) => stripSqlComments(statement.sql).trim() !== '')
    .map(({ sql, offset }) => {
      const leading = sql.length - sql.trimStart().length;
      return { sql: sql.trim(), offset: offset + leading };
    });
}

/** The statements of a SQL text, without their offsets. */
export function splitStatements(text: string): string[] {
  return splitStatementsAt(text).map((statement) => statement.sql);
}

/** 1-based line of `offset` in `text`. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/**
 * The transaction-control command a statement is, if any: those end or replace the transaction a
 * migration runs in. `ROLLBACK TO SAVEPOINT`, `SAVEPOINT` and `RELEASE` stay inside it and are fine.
 */
export function transactionControlOf(statement: string): string | undefined {
  const words = stripSqlComments(statement).trim().toLowerCase().split(/\s+/, 3);
  const [first = '', second = ''] = words;
  if (first === 'begin' && second !== 'atomic') return 'BEGIN';
  if (first === 'start' && second.startsWith('transaction')) return 'START TRANSACTION';
  if (['commit', 'end', 'abort'].includes(first.replace(/;$/, '')))
    return first.replace(/;$/, '').toUpperCase();
  if (first.replace(/;$/, '') === 'rollback' && second !== 'to') {
    return second === 'prepared' ? 'ROLLBACK PREPARED' : 'ROLLBACK';
  }
  if (first === 'prepare' && second === 'transaction') return 'PREPARE TRANSACTION';
  return undefined;
}

export function stripSqlComments(statement: string): string {
  return statement.replace(/--.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

function trackRoutineBlocks(words: string[], word: string, depth: number): number {
  if (words.length < 4) words.push(word);
  const [a, b, c, d] = words;
  const inRoutine =
    a === 'create' &&
    (b === 'function' ||
      b === 'procedure' ||
      (b === 'or' && c === 'replace' && (d === 'function' || d === 'procedure')));
  if (!inRoutine) return depth;
  if (word === 'begin') return depth + 1;
  // CASE … END inside a block: its END must not close the block.
  if (word === 'case') return depth > 0 ? depth + 1 : depth;
  if (word === 'end') return Math.max(0, depth - 1);
  return depth;
}

/** `E'…'` (or `e'…'`) not preceded by an identifier character: backslash escapes apply inside. */
function isEscapeStringPrefix(text: string, quote: number): boolean {
  const prefix = text[quote - 1];
  return (prefix === 'E' || prefix === 'e') && !/[A-Za-z0-9_$]/.test(text[quote - 2] ?? '');
}

function skipString(text: string, open: number, backslashEscapes: boolean): number {
  const quote = text[open];
  let i = open + 1;
  while (i < text.length) {
    if (backslashEscapes && text[i] === '\\') {
      i += 2;
    } else if (text[i] === quote) {
      if (text[i + 1] === quote)
        i += 2; // doubled quote escapes itself
      else return i + 1;
    } else {
      i++;
    }
  }
  return i;
}

function skipBlockComment(text: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}
