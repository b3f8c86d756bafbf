/** A statement of a SQL text, with where it starts, so that errors can name its line. */
export interface SqlStatement {
  /** As written, leading comments included, without its semicolon. */
  sql: string;
  /** Offset of its first token (not of a comment above it) in the text it was split from. */
  offset: number;
  /**
   * `sql` with comments and the contents of quoted strings, quoted identifiers and dollar-quoted
   * bodies blanked out, same length: its keywords and punctuation, for checks that must not be
   * fooled by a word inside a literal or by a comment between two keywords.
   */
  code: string;
}

/** The text cannot be split into statements: `offset` is where the trouble starts. */
export class UnsplittableSql extends Error {
  readonly offset: number;
  readonly problem: string;

  constructor(offset: number, problem: string) {
    super(problem);
    this.offset = offset;
    this.problem = problem;
  }
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

/**
 * Splits SQL text into statements the way psql does: at a semicolon outside quotes (`'…'`,
 * `E'…\'…'`), quoted identifiers, dollar-quoted bodies, comments (nested ones too), parentheses,
 * and the `BEGIN ATOMIC … END` body of a SQL-standard function or procedure. Statements come one at
 * a time, so a caller that refuses one (a `COPY … FROM stdin`) does so before the scan reaches what
 * follows it (data rows, which are not SQL). Throws `UnsplittableSql` on what psql would not send to
 * the server as SQL: a meta-command (`\set`, `\restrict`…), or a quote or comment that never ends.
 */
export function* scanStatements(text: string): Generator<SqlStatement> {
  let start = 0;
  let i = 0;
  // The text with literals and comments blanked out, built as it is scanned, from `start`.
  let code = '';
  let copiedTo = 0;
  // Blanks text[from, to) in `code`, keeping `delimiter` characters at each end (a literal's quotes).
  const blank = (from: number, to: number, delimiter: number) => {
    code +=
      text.slice(copiedTo, from + delimiter) +
      ' '.repeat(to - from - 2 * delimiter) +
      text.slice(to - delimiter, to);
    copiedTo = to;
  };
  let parenDepth = 0;
  const routine = new RoutineBlocks();
  while (i < text.length) {
    const char = text[i] as string;
    const next = text[i + 1];
    if (char === "'" || char === '"') {
      const end = skipQuoted(text, i, char === "'" && isEscapeStringPrefix(text, i));
      if (end === -1) {
        throw new UnsplittableSql(
          i,
          char === "'"
            ? 'a quoted string opened here never ends (a missing closing quote).'
            : 'a quoted identifier opened here never ends (a missing closing double quote).',
        );
      }
      blank(i, end, 1);
      i = end;
    } else if (char === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      blank(i, end === -1 ? text.length : end, 0);
      i = end === -1 ? text.length : end;
    } else if (char === '/' && next === '*') {
      const end = skipBlockComment(text, i);
      if (end === -1)
        throw new UnsplittableSql(i, 'a block comment (/*) opened here never ends (a missing */).');
      blank(i, end, 0);
      i = end;
    } else if (char === '$' && matchAt(DOLLAR_TAG, text, i)) {
      const tag = matchAt(DOLLAR_TAG, text, i) as string;
      const close = text.indexOf(tag, i + tag.length);
      if (close === -1) throw new UnsplittableSql(i, `the dollar quote ${tag} opened here is never closed.`);
      blank(i, close + tag.length, tag.length);
      i = close + tag.length;
    } else if (char === '\\') {
      const command = /^\\[A-Za-z!?.]*/.exec(text.slice(i, i + 40))?.[0] ?? '\\';
      throw new UnsplittableSql(
        i,
        `psql meta-command ${command} is not SQL; remove it (the engine sends each statement to the server, without psql).`,
      );
    } else if (WORD_START.test(char)) {
      // A whole word at once, so that a `$` inside an identifier never opens a dollar quote.
      const word = matchAt(WORD, text, i) as string;
      routine.see(word.toLowerCase(), parenDepth);
      i += word.length;
    } else if (char === '(') {
      parenDepth++;
      i++;
    } else if (char === ')') {
      parenDepth = Math.max(0, parenDepth - 1);
      i++;
    } else if (char === ';' && parenDepth === 0 && routine.depth === 0) {
      code += text.slice(copiedTo, i);
      const statement = statementOf(text, start, i, code);
      if (statement) yield statement;
      start = copiedTo = ++i;
      code = '';
      parenDepth = 0;
      routine.reset();
    } else {
      i++;
    }
  }
  code += text.slice(copiedTo);
  const last = statementOf(text, start, text.length, code);
  if (last) yield last;
}

/** The statement between `start` and `end`, or none when only whitespace and comments lie there. */
function statementOf(text: string, start: number, end: number, code: string): SqlStatement | undefined {
  const firstToken = code.search(/\S/);
  if (firstToken === -1) return undefined;
  const raw = text.slice(start, end);
  const leading = raw.length - raw.trimStart().length;
  const sql = raw.trim();
  return { sql, offset: start + firstToken, code: code.slice(leading, leading + sql.length) };
}

/** The statements of a SQL text, as written (see `scanStatements`). */
export function splitStatements(text: string): string[] {
  return [...scanStatements(text)].map((statement) => statement.sql);
}

/** 1-based line of `offset` in `text`. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/**
 * psql's heuristic for SQL-standard routine bodies: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE,
 * BEGIN and CASE open a block that END closes, and a semicolon ends the statement only outside
 * such blocks. Words inside parentheses do not count: `f(begin date)` names a parameter.
 */
class RoutineBlocks {
  depth = 0;
  private words: string[] = [];

  see(word: string, parenDepth: number): void {
    if (this.words.length < 4) this.words.push(word);
    if (parenDepth > 0 || !this.inRoutine()) return;
    if (word === 'begin') this.depth++;
    // CASE … END inside a block: its END must not close the block.
    else if (word === 'case' && this.depth > 0) this.depth++;
    else if (word === 'end' && this.depth > 0) this.depth--;
  }

  reset(): void {
    this.depth = 0;
    this.words = [];
  }

  private inRoutine(): boolean {
    const [a, b, c, d] = this.words;
    const routine = (word: string | undefined) => word === 'function' || word === 'procedure';
    return a === 'create' && (routine(b) || (b === 'or' && c === 'replace' && routine(d)));
  }
}

function matchAt(pattern: RegExp, text: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0];
}

/** `E'…'` (or `e'…'`) not preceded by an identifier character: backslash escapes apply inside. */
function isEscapeStringPrefix(text: string, quote: number): boolean {
  const prefix = text[quote - 1];
  return (prefix === 'E' || prefix === 'e') && !/[A-Za-z0-9_$]/.test(text[quote - 2] ?? '');
}

/** The offset just past the quote that closes the one at `open`, or -1 when none does. */
function skipQuoted(text: string, open: number, backslashEscapes: boolean): number {
  const quote = text[open];
  let i = open + 1;
  while (i < text.length) {
    if (backslashEscapes && text[i] === '\\') {
      i += 2;
    } else if (text[i] === quote) {
      if (text[i + 1] !== quote) return i + 1;
      i += 2; // a doubled quote escapes itself
    } else {
      i++;
    }
  }
  return -1;
}

/** The offset just past the `*\/` that closes the comment at `open` (they nest), or -1. */
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
  return -1;
}
