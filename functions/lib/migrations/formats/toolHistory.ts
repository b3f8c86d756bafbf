import type { Sql } from 'postgres';
import type { MigrationFile } from '../files.ts';
import type { MigrationFormat } from './detect.ts';

/** What another tool's own history table says about a database it built. */
export interface ToolHistory {
  /** The tool's table, as found. */
  table: string;
  /** The newest migration it records as applied, by this folder's name for it; undefined when none matches. */
  newest?: string;
  /** Why its record cannot be trusted as it is (a failed or dirty migration), if so. */
  problem?: string;
}

type Reader = (sql: Sql, files: readonly MigrationFile[]) => Promise<ToolHistory | undefined>;

/**
 * Reads the history table of the tool whose folder this is (Flyway's `flyway_schema_history`,
 * Prisma's `_prisma_migrations`, golang-migrate's and dbmate's `schema_migrations`, Drizzle's
 * `drizzle.__drizzle_migrations`, ley's `migrations`), so that a baseline can name the migration the
 * database already has. Read-only; undefined when the table is not there.
 */
export async function readToolHistory(
  sql: Sql,
  format: MigrationFormat,
  files: readonly MigrationFile[],
): Promise<ToolHistory | undefined> {
  return READERS[format](sql, files);
}

const READERS: Record<MigrationFormat, Reader> = {
  flyway: async (sql, files) => {
    if (!(await exists(sql, 'flyway_schema_history'))) return undefined;
    const table = 'flyway_schema_history';
    const rows = await sql<{ version: string | null; script: string; type: string; success: boolean }[]>`
      select version, script, type, success from flyway_schema_history order by installed_rank`;
    const failed = rows.find((row) => !row.success);
    if (failed)
      return {
        table,
        problem: `Flyway recorded ${failed.script} as failed; repair or finish it with Flyway first`,
      };
    // Replayed in order: an undo (or a repair's delete) takes its version back out.
    const applied = new Map<string, string>();
    for (const row of rows) {
      if (row.version === null) continue;
      if (row.type === 'SQL') applied.set(row.version, row.script);
      else if (row.type === 'UNDO_SQL' || row.type === 'DELETE') applied.delete(row.version);
    }
    // Flyway records a script by its path under the location, as the folder names it.
    const scripts = new Set(applied.values());
    return {
      table,
      newest: newestOf(
        files,
        new Set(files.filter((file) => scripts.has(file.name)).map((file) => file.name)),
      ),
    };
  },
  prisma: async (sql, files) => {
    if (!(await exists(sql, '_prisma_migrations'))) return undefined;
    const table = '_prisma_migrations';
    const rows = await sql<{ name: string; finished: boolean }[]>`
      select migration_name as name, finished_at is not null as finished
      from _prisma_migrations where rolled_back_at is null`;
    const failed = rows.find((row) => !row.finished);
    if (failed)
      return {
        table,
        problem: `Prisma recorded ${failed.name} as started but not finished; resolve it with "prisma migrate resolve" first`,
      };
    return { table, newest: newestOf(files, new Set(rows.map((row) => row.name))) };
  },
  'golang-migrate': async (sql, files) => {
    if (!(await exists(sql, 'schema_migrations'))) return undefined;
    const table = 'schema_migrations';
    const [row] = await sql<{ version: string; dirty: boolean }[]>`
      select version::text as version, dirty from schema_migrations limit 1`;
    if (!row) return { table };
    if (row.dirty)
      return {
        table,
        problem: `golang-migrate left version ${row.version} dirty (it failed halfway); fix the schema and "migrate force" it first`,
      };
    return {
      table,
      newest: files.find((file) => BigInt(/^\d+/.exec(file.name)?.[0] ?? '-1') === BigInt(row.version))?.name,
    };
  },
  drizzle: async (sql, files) => {
    if (!(await exists(sql, 'drizzle.__drizzle_migrations'))) return undefined;
    const table = 'drizzle.__drizzle_migrations';
    // drizzle-kit records each file's SHA-256, which is the folder's checksum for a file with LF line endings.
    const rows = await sql<{ hash: string }[]>`select hash from drizzle.__drizzle_migrations`;
    const applied = new Set(
      files.filter((file) => rows.some((row) => row.hash === file.checksum)).map((file) => file.name),
    );
    return { table, newest: newestOf(files, applied) };
  },
  ley: async (sql, files) => {
    if (await exists(sql, 'migrations')) {
      const rows = await sql<{ name: string }[]>`select name from migrations`.catch(() => undefined);
      if (rows) return { table: 'migrations', newest: newestOf(files, new Set(rows.map((row) => row.name))) };
    }
    if (!(await exists(sql, 'schema_migrations'))) return undefined;
    // dbmate's: the version is the file name's leading number.
    const rows = await sql<{ version: string }[]>`select version::text as version from schema_migrations`;
    const versions = new Set(rows.map((row) => row.version));
    return {
      table: 'schema_migrations',
      newest: newestOf(
        files,
        new Set(
          files.filter((file) => versions.has(/^\d+/.exec(file.name)?.[0] ?? '')).map((file) => file.name),
        ),
      ),
    };
  },
};

async function exists(sql: Sql, table: string): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`select to_regclass(${table}) is not null as found`;
  return row?.found === true;
}

/** The applied migration that comes last in the folder's order. */
function newestOf(files: readonly MigrationFile[], applied: ReadonlySet<string>): string | undefined {
  return files.findLast((file) => applied.has(file.name))?.name;
}
