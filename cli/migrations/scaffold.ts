import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { InvalidInput } from '../../functions/lib/errors.ts';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import { detectMigrationFormat, FORMAT_DESCRIPTIONS } from '../../functions/lib/migrations/formats/detect.ts';
import { type Scaffolded, scaffoldForeignMigration } from './foreignScaffold.ts';
import { descriptionWords, nextNumber } from './numbering.ts';

export type ScaffoldFormat = 'ts' | 'mts' | 'mjs' | 'sql';

export interface ScaffoldOptions {
  migrationsDir: string;
  /** Words describing the change: "add vendors table" becomes `013-add-vendors-table.ts`. */
  description: string;
  format?: ScaffoldFormat;
  now?: Date;
}

/**
 * Writes a new migration with `up` and `down`, numbered after the newest file: the next number,
 * padded like the existing ones, or a UTC timestamp when the folder uses timestamps.
 */
export async function scaffoldMigration(options: ScaffoldOptions): Promise<Scaffolded> {
  const slug = descriptionWords(options.description, '-');
  if (!slug) {
    throw new InvalidInput('Describe the migration in a few words, e.g. "migrate new add vendors table".', {
      field: 'description',
    });
  }
  const dir = resolve(options.migrationsDir);
  await mkdir(dir, { recursive: true });
  const folderFormat = await detectMigrationFormat(dir);
  if (folderFormat !== 'ley') {
    if (options.format !== undefined) {
      throw new InvalidInput(
        `--format ${options.format} is for ley and dbmate folders; ${dir} is ${FORMAT_DESCRIPTIONS[folderFormat]}, and its migrations are written as that tool writes them. Drop --format.`,
        { field: 'format' },
      );
    }
    return scaffoldForeignMigration(folderFormat, dir, options.description.trim(), options.now ?? new Date());
  }
  const numbers = (await listMigrationFiles(dir)).map((file) => /^(\d+)/.exec(file.name)?.[1]);
  const prefix = nextNumber(numbers, options.now ?? new Date(), 3);
  const format = options.format ?? (await defaultModuleFormat(dir));
  const name = `${prefix}-${slug}.${format}`;
  const path = join(dir, name);
  await writeFile(path, TEMPLATES[format](options.description.trim()), { flag: 'wx' });
  return { name, path, paths: [path] };
}

/**
 * `.ts` where the nearest package.json says `"type": "module"`; elsewhere `.mts`, which Node always
 * loads as an ES module: in an app whose package.json is CommonJS (what `npm init` writes, and what
 * an app in another language has), a `.ts` file with `export` fails to load.
 */
async function defaultModuleFormat(dir: string): Promise<ScaffoldFormat> {
  for (let folder = dir; ; folder = dirname(folder)) {
    const manifest = await readFile(join(folder, 'package.json'), 'utf8').catch(() => undefined);
    if (manifest !== undefined) {
      try {
        return (JSON.parse(manifest) as { type?: unknown }).type === 'module' ? 'ts' : 'mts';
      } catch {
        return 'mts';
      }
    }
    if (dirname(folder) === folder) return 'mts';
  }
}

const moduleTemplate = (description: string, typed: boolean) => {
  const sqlParam = typed ? 'sql: Sql' : 'sql';
  const returns = typed ? ': Promise<void>' : '';
  return `${typed ? "import type { Sql } from 'postgres';\n\n" : ''}/**
 * ${description}
 *
 * Runs in its own transaction, with a short lock_timeout that is retried, so the app never waits
 * long behind it. For CREATE INDEX CONCURRENTLY or a batched backfill, add
 * \`export const transaction = false\` and see docs in README ("Writing migrations").
 */
export async function up(${sqlParam})${returns} {
  await sql\`\`;
}

/** Undo exactly what up did: \`migrate verify\` checks it. */
export async function down(${sqlParam})${returns} {
  await sql\`\`;
}
`;
};

const TEMPLATES: Record<ScaffoldFormat, (description: string) => string> = {
  ts: (description) => moduleTemplate(description, true),
  mts: (description) => moduleTemplate(description, true),
  mjs: (description) => moduleTemplate(description, false),
  sql: (description) => `-- ${description}
-- migrate:up


-- migrate:down

`,
};
