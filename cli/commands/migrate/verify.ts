import { resolve } from 'node:path';
import { COMMON_OPTIONS, parse, settingsFrom } from '../../args.ts';
import { withCliDatabase } from '../../database.ts';
import { type CliIo, ExitCode } from '../../io.ts';
import { assertVerified, verifyMigrations } from '../../migrations/verify.ts';
import { printJson } from '../../output.ts';
import { requireMigrations } from './runSupport.ts';

export const usage = `Usage: migration-pipeline migrate verify [--dir migrations] [--json]

On a scratch database (created on the same server and dropped afterwards), applies each migration,
reverts it, and applies it again, comparing the schema from the catalogs each time: a down that
forgets an index, a default or an enum value is listed and fails. Column order alone is a note.
`;

export async function verifyCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, COMMON_OPTIONS);
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const settings = settingsFrom(values, io.env);
  const migrationsDir = resolve(io.cwd, values.dir);
  await requireMigrations(migrationsDir);
  const result = await withCliDatabase(io, (url) =>
    verifyMigrations({ databaseUrl: url, migrationsDir, settings }),
  );

  if (values.json) {
    printJson(io, result);
    return result.ok ? ExitCode.ok : ExitCode.failed;
  }
  for (const migration of result.migrations) {
    io.stdout(`  ${migration.differences.length === 0 ? 'ok     ' : 'DIFFERS'} ${migration.name}\n`);
    for (const difference of migration.differences) io.stdout(`          ${difference}\n`);
    for (const note of migration.notes) io.stdout(`          note: ${note}\n`);
  }
  assertVerified(result);
  const skipped = result.migrations.filter((migration) => migration.roundTripSkipped).length;
  const tripped = result.migrations.length - skipped;
  io.stdout(
    skipped === 0
      ? `All ${tripped} migrations round-trip (up, down, up).\n`
      : `${tripped} migration(s) round-trip (up, down, up); ${skipped} forward-only, applied without a round trip.\n`,
  );
  return ExitCode.ok;
}
