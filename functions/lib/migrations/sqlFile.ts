import { InvalidInput } from '../errors.ts';
import type { MigrationFunction, MigrationModule } from './types.ts';

const SECTION_MARKER = /^--\s*migrate:(up|down)\b(.*)$/gm;

/**
 * Parses a dbmate-style SQL migration: `-- migrate:up` and `-- migrate:down` sections, with
 * `-- migrate:up transaction:false` to run the file outside a transaction.
 */
export function parseSqlMigration(name: string, source: string): MigrationModule {
  const markers = [...source.matchAll(SECTION_MARKER)];
  const sections: Partial<Record<'up' | 'down', { body: string; options: string }>> = {};
  markers.forEach((marker, index) => {
    const direction = marker[1] as 'up' | 'down';
    if (sections[direction]) {
      throw new InvalidInput(`${name} has two "-- migrate:${direction}" sections; keep one.`, {
        field: name,
      });
    }
    const start = (marker.index ?? 0) + marker[0].length;
    const end = markers[index + 1]?.index ?? source.length;
    sections[direction] = { body: source.slice(start, end).trim(), options: marker[2] ?? '' };
  });
  const up = sections.up;
  if (!up) {
    throw new InvalidInput(`${name} has no "-- migrate:up" section. Start the file with "-- migrate:up".`, {
      field: name,
    });
  }
  const outsideTransaction = (options: string) => /\btransaction:false\b/.test(options);
  return {
    up: sqlRunner(up.body),
    down: sections.down?.body ? sqlRunner(sections.down.body) : undefined,
    transaction: !outsideTransaction(up.options),
    // dbmate reads the option per section: a down may need it when its up does not.
    ...(sections.down
      ? { downTransaction: !outsideTransaction(sections.down.options) && !outsideTransaction(up.options) }
      : {}),
  };
}

function sqlRunner(body: string): MigrationFunction {
  return async (sql) => {
    // Each statement goes alone: outside a transaction PostgreSQL would run a multi-statement query in
    // an implicit transaction, where CREATE INDEX CONCURRENTLY is refused; inside one, errors point at
    // the statement and `check` can tell which statement took which lock.
    for (const statement of splitStatements(body)) await sql.unsafe(statement);
  };
}

/**
 * Splits SQL text into statements at top-level semicolons, leaving alone those inside quotes,
 * quoted identifiers, dollar-quoted bodies and comments.
 */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    const next = text[i + 1];
    if (char === "'" || char === '"') {
      i = skipQuoted(text, i, char);
    } else if (char === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
    } else if (char === '/' && next === '*') {
      i = skipBlockComment(text, i);
    } else if (char === '$') {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))?.[0];
      if (tag) {
        const end = text.indexOf(tag, i + tag.length);
        i = end === -1 ? text.length : end + tag.length;
      } else {
        i++;
      }
    } else if (char === ';') {
      statements.push(text.slice(start, i));
      start = ++i;
    } else {
      i++;
    }
  }
  statements.push(text.slice(start));
  return statements.filter((statement) => stripComments(statement).trim() !== '').map((s) => s.trim());
}

function skipQuoted(text: string, open: number, quote: string): number {
  let i = open + 1;
  while (i < text.length) {
    if (text[i] === quote) {
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

function stripComments(statement: string): string {
  return statement.replace(/--.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
