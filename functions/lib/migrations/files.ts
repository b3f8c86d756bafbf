import { readMigrationsFolder } from './formats/detect.ts';

export { checksumOf, MAX_MIGRATION_BYTES } from './formats/folder.ts';

/**
 * A migration in a folder. `name` is how the history records it: the file name for ley, dbmate and
 * Flyway, the migration's folder for Prisma, the journal tag for Drizzle, `{version}_{title}` for
 * golang-migrate. `path` is the file holding it (its up, for tools with separate down files).
 */
export interface MigrationFile {
  name: string;
  path: string;
  checksum: string;
  /** Set for another tool's plain SQL files: how to run them. Absent for ley modules and dbmate files. */
  plainSql?: PlainSqlSource;
}

export interface PlainSqlSource {
  format: 'prisma' | 'drizzle' | 'flyway' | 'golang-migrate';
  /** The file holding the down, where the tool has one (Flyway's U script, golang-migrate's .down.sql, Prisma's down.sql). */
  downPath?: string;
  /** Set by a Flyway script configuration (`executeInTransaction`); otherwise told from the statements. */
  transaction?: boolean;
  downTransaction?: boolean;
  /** golang-migrate's version with only a down file: its up is empty, and `path` is the down. */
  emptyUp?: boolean;
}

/** Lists a folder's migrations, in whichever layout it has, in the order they apply, each with its checksum. */
export async function listMigrationFiles(dir: string): Promise<MigrationFile[]> {
  return (await readMigrationsFolder(dir)).files;
}

/** Matches a migration by name, with or without its extension (`--to 006-x` or `--to 006-x.ts`). */
export function findMigration<T extends { name: string }>(files: readonly T[], name: string): T | undefined {
  return files.find((file) => file.name === name || stripExtension(file.name) === name);
}

export function stripExtension(name: string): string {
  return name.replace(/\.[^.]+$/, '');
}
