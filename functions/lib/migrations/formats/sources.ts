/**
 * Which files of a migrations folder a release carries (from an image, or from a local folder into
 * a bundle). Every regular file directly in the folder, as before; below it, only what a format
 * reads one level down: Prisma's `<migration>/migration.sql`, Drizzle's `meta/_journal.json`,
 * Flyway's scripts in subfolders and their `.sql.conf`. Any other `.sql` one level down travels too,
 * so that a local run and a release see the same folder. Deeper files are never migrations.
 */
export const MAX_SOURCE_DEPTH = 2;

/** Whether a file at `relativePath` (POSIX, relative to the migrations folder) belongs in a release. */
export function isMigrationSourcePath(relativePath: string): boolean {
  const parts = relativePath.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return false;
  if (parts.length === 1) return true;
  if (parts.length > MAX_SOURCE_DEPTH) return false;
  const [folder, file] = parts as [string, string];
  return (
    file.endsWith('.sql') || file.endsWith('.sql.conf') || (folder === 'meta' && file === '_journal.json')
  );
}
