import type { Sql } from 'postgres';

/** How many rows `check` gives each empty table by default: enough that a scan or a rewrite costs measurable time. */
export const DEFAULT_SYNTHETIC_ROWS = 10_000;

interface Column {
  name: string;
  type: string;
  category: string;
  kind: string;
  notNull: boolean;
  /** Filled by the table itself: a default, an identity, a generated column. */
  filledByTable: boolean;
  typmod: number;
  /** The table and column it references, when it is a single-column foreign key. */
  references?: { table: string; column: string };
}

export interface FillResult {
  /** Tables given rows, with how many. */
  filled: Record<string, number>;
  /** Tables left empty, each with why (a column no value could be made for, a constraint the rows broke). */
  skipped: string[];
}

/**
 * Gives every empty table of the scratch database `rows` synthetic rows shaped by its columns, so
 * that what the next migration does to an existing table (a scan, a rewrite, an index build) costs
 * what it costs on data: numbers count up, text is distinct, times step back a second at a time,
 * enums take their first label, nullable foreign keys stay null, a required one takes the first key
 * of the table it references (filled first). Defaults, identities and generated columns fill
 * themselves. A table no such rows fit (a CHECK, a unique enum) is left empty and named.
 */
export async function fillEmptyTables(sql: Sql, rows: number, historyTable: string): Promise<FillResult> {
  const result: FillResult = { filled: {}, skipped: [] };
  if (rows <= 0) return result;
  const tables = await sql<{ oid: number; name: string }[]>`
    select c.oid::int as oid, format('%I.%I', n.nspname, c.relname) as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and not c.relispartition
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
      and format('%I.%I', n.nspname, c.relname) not in (${historyTable}, ${`${historyTable}_releases`})
      and not exists (select from pg_depend d where d.objid = c.oid and d.deptype = 'e')`;
  const columns = new Map<string, Column[]>();
  for (const table of tables) columns.set(table.name, await columnsOf(sql, table.oid));
  for (const table of referencedFirst(
    tables.map((t) => t.name),
    columns,
  )) {
    const [row] = await sql.unsafe<{ empty: boolean }[]>(`select not exists (select from ${table}) as empty`);
    if (!row?.empty) continue;
    const cols = (columns.get(table) ?? []).filter((column) => !column.filledByTable);
    const values = cols.map((column) => [column, syntheticValue(column)] as const);
    const missing = values.find(([column, value]) => value === undefined && column.notNull);
    if (missing) {
      result.skipped.push(`${table}: no synthetic value for ${missing[0].name} (${missing[0].type})`);
      continue;
    }
    const given = values.filter(([, value]) => value !== undefined) as [Column, string][];
    const insert = given.length
      ? `insert into ${table} (${given.map(([c]) => quoteIdent(c.name)).join(', ')}) select ${given.map(([, v]) => v).join(', ')} from generate_series(1, ${rows}) g`
      : `insert into ${table} default values`;
    try {
      await sql.begin((tx) => tx.unsafe(insert));
      result.filled[table] = given.length ? rows : 1;
    } catch (error) {
      result.skipped.push(`${table}: ${(error as Error).message}`);
    }
  }
  return result;
}

async function columnsOf(sql: Sql, oid: number): Promise<Column[]> {
  const rows = await sql<
    (Omit<Column, 'references'> & { refTable: string | null; refColumn: string | null })[]
  >`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, t.typcategory as category,
      t.typtype as kind, a.attnotnull as "notNull", a.atttypmod as typmod,
      (a.atthasdef or a.attidentity <> '' or a.attgenerated <> '') as "filledByTable",
      (select format('%I.%I', rn.nspname, rc.relname) from pg_constraint k
         join pg_class rc on rc.oid = k.confrelid join pg_namespace rn on rn.oid = rc.relnamespace
        where k.conrelid = a.attrelid and k.contype = 'f' and k.conkey = array[a.attnum] limit 1) as "refTable",
      (select ra.attname from pg_constraint k join pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = k.confkey[1]
        where k.conrelid = a.attrelid and k.contype = 'f' and k.conkey = array[a.attnum] limit 1) as "refColumn"
    from pg_attribute a join pg_type t on t.oid = a.atttypid
    where a.attrelid = ${oid} and a.attnum > 0 and not a.attisdropped
    order by a.attnum`;
  return rows.map(({ refTable, refColumn, ...column }) =>
    refTable && refColumn ? { ...column, references: { table: refTable, column: refColumn } } : column,
  );
}

/** The tables in an order where a table comes after those its foreign keys reference (cycles as they come). */
function referencedFirst(tables: string[], columns: Map<string, Column[]>): string[] {
  const ordered: string[] = [];
  const visit = (table: string, path: Set<string>) => {
    if (ordered.includes(table) || path.has(table)) return;
    path.add(table);
    for (const column of columns.get(table) ?? []) {
      if (column.references && column.references.table !== table) visit(column.references.table, path);
    }
    ordered.push(table);
  };
  for (const table of tables) visit(table, new Set());
  return ordered;
}

/** An expression over `g` (1…rows) giving the column a value; undefined when none can be made. */
function syntheticValue(column: Column): string | undefined {
  if (column.references) {
    if (!column.notNull) return 'null';
    return `(select ${quoteIdent(column.references.column)} from ${column.references.table} limit 1)`;
  }
  const type = column.type;
  if (column.kind === 'e') return `(enum_range(null::${type}))[1]`;
  switch (column.category) {
    case 'N':
      if (/^smallint/.test(type)) return '(g % 32000)::smallint';
      if (/^numeric\(\d+,\s*\d+\)/.test(type)) {
        const [, precision = '1', scale = '0'] = /^numeric\((\d+),\s*(\d+)\)/.exec(type) ?? [];
        return `(g % ${10 ** Math.min(9, Number(precision) - Number(scale))})::${type}`;
      }
      return `g::${type}`;
    case 'S': {
      const length = column.typmod > 4 ? column.typmod - 4 : undefined;
      return length ? `left('v' || g, ${length})::${type}` : `('v' || g)::${type}`;
    }
    case 'B':
      return 'g % 2 = 0';
    case 'D':
      if (/^date/.test(type)) return `(current_date - (g % 3650))`;
      if (/^time(?!stamp)/.test(type)) return `(time '00:00' + g * interval '1 second')::${type}`;
      return `(now() - g * interval '1 second')::${type}`;
    case 'T':
      return `(g * interval '1 second')::${type}`;
    case 'A':
      return `'{}'::${type}`;
    case 'I':
      return `'10.0.0.1'::${type}`;
    case 'U':
      if (type === 'uuid') return `md5(g::text)::uuid`;
      if (type === 'json' || type === 'jsonb') return `'{}'::${type}`;
      if (type === 'bytea') return `'\\x00'::bytea`;
      return column.notNull ? undefined : 'null';
    default:
      return column.notNull ? undefined : 'null';
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
