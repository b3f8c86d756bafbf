import { relative, resolve } from 'node:path';
import { parse } from '../../args.ts';
import { type CliIo, ExitCode, UsageError } from '../../io.ts';
import { type ScaffoldFormat, scaffoldMigration } from '../../migrations/scaffold.ts';
import { printJson } from '../../output.ts';

export const usage = `Usage: migration-pipeline migrate new <description...> [--format ts|mts|mjs|sql] [--dir migrations] [--json]

Creates the next migration, e.g. "migrate new add vendors table" -> 013-add-vendors-table.ts,
with an up and a down to fill in. --format defaults to ts where package.json says "type": "module",
else mts (an ES module whatever the package type). In another tool's folder it writes what that
tool would: Flyway's V and U scripts, golang-migrate's .up.sql and .down.sql, a Prisma migration
folder, or a Drizzle file with its journal entry.
`;

const FORMATS: readonly ScaffoldFormat[] = ['ts', 'mts', 'mjs', 'sql'];

export async function newCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      dir: { type: 'string', default: 'migrations' },
      format: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  );
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  if (positionals.length === 0)
    throw new UsageError('Describe the migration, e.g. "migrate new add vendors table".');
  if (values.format !== undefined && !FORMATS.includes(values.format as ScaffoldFormat)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got "${values.format}".`);
  }
  const created = await scaffoldMigration({
    migrationsDir: resolve(io.cwd, values.dir),
    description: positionals.join(' '),
    format: values.format as ScaffoldFormat | undefined,
  });
  if (values.json) printJson(io, created);
  else for (const path of created.paths) io.stdout(`Created ${relative(io.cwd, path)}\n`);
  return ExitCode.ok;
}
