import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { connect } from '../../functions/lib/db/connection.ts';
import { InvalidInput } from '../../functions/lib/errors.ts';

/**
 * Production's row counts by table (`schema.table`, as check names tables), for `--stats-from`:
 * from a database URL, read-only, out of the planner's estimates (`pg_class.reltuples`, no scan of
 * any table; a table never analyzed is left out); or from a JSON file `{ "orders": 80000000 }`
 * (a name without a schema is in `public`).
 */
export async function readProductionRows(source: string, cwd: string): Promise<Record<string, number>> {
  // Anything with a scheme is a URL, never a path to print: it may hold a password.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return fromDatabase(source);
  return fromFile(resolve(cwd, source));
}

async function fromDatabase(url: string): Promise<Record<string, number>> {
  const sql = await connect(url, { applicationName: 'migration-pipeline check --stats-from' });
  try {
    const rows = await sql.begin(
      'read only',
      (tx) =>
        tx<{ name: string; rows: number }[]>`
        select format('%I.%I', n.nspname, c.relname) as name, c.reltuples::float8 as rows
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'm') and c.reltuples >= 0 and c.relpages > 0
          and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`,
    );
    return Object.fromEntries(rows.map((row) => [row.name, Math.round(row.rows)]));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function fromFile(path: string): Promise<Record<string, number>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new InvalidInput(
      `--stats-from ${path} cannot be read as JSON (${(error as Error).message}). Give a database URL, or a file like {"orders": 80000000}.`,
      { field: 'stats-from' },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidInput(
      `--stats-from ${path} must map table names to row counts, like {"orders": 80000000}.`,
      {
        field: 'stats-from',
      },
    );
  }
  const counts: Record<string, number> = {};
  for (const [table, rows] of Object.entries(parsed)) {
    if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 0) {
      throw new InvalidInput(
        `--stats-from ${path}: "${table}" must be a whole number of rows, not ${JSON.stringify(rows)}.`,
        {
          field: 'stats-from',
        },
      );
    }
    counts[table.includes('.') ? table : `public.${table}`] = rows;
  }
  return counts;
}
