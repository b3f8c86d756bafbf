import * as z from 'zod/mini';
import type { MigrationFile } from '../files.ts';
import { type MigrationsFolder, readSource, refusal } from './folder.ts';

export const DRIZZLE_JOURNAL = 'meta/_journal.json';

const journalSchema = z.object({
  dialect: z.string(),
  entries: z.array(z.object({ idx: z.number(), tag: z.string(), breakpoints: z.optional(z.boolean()) })),
});

/**
 * drizzle-kit's layout: `NNNN_<name>.sql` files applied in the order of `meta/_journal.json`, each
 * named by its journal tag; statements may be separated by `--> statement-breakpoint`, which is a
 * comment to the splitter (it splits at semicolons as psql does). Drizzle applies no downs. The
 * journal is the list, as for drizzle-kit: what it does not list (`schema.ts` and `relations.ts` from
 * `drizzle-kit pull`, a SQL file dropped from the journal) is not a migration; an entry without its
 * file is refused.
 */
export async function listDrizzleMigrations(
  folder: MigrationsFolder,
  names: string[],
): Promise<MigrationFile[]> {
  const journal = await readJournal(folder);
  const files: MigrationFile[] = [];
  const seen = new Set<string>();
  for (const entry of [...journal.entries].sort((a, b) => a.idx - b.idx)) {
    if (seen.has(entry.tag)) {
      throw refusal(DRIZZLE_JOURNAL, `it lists ${entry.tag} twice. Remove the repeated entry.`);
    }
    seen.add(entry.tag);
    if (!names.includes(`${entry.tag}.sql`)) {
      throw refusal(
        DRIZZLE_JOURNAL,
        `it lists ${entry.tag}, but ${entry.tag}.sql is not in the folder. Restore the file from version control.`,
      );
    }
    const { path, checksum } = await readSource(folder, `${entry.tag}.sql`);
    files.push({ name: entry.tag, path, checksum, plainSql: { format: 'drizzle' } });
  }
  return files;
}

async function readJournal(folder: MigrationsFolder): Promise<z.infer<typeof journalSchema>> {
  const { text } = await readSource(folder, DRIZZLE_JOURNAL);
  let parsed: z.infer<typeof journalSchema>;
  try {
    const result = journalSchema.safeParse(JSON.parse(text));
    if (!result.success) throw new Error(result.error.issues[0]?.message ?? 'unexpected shape');
    parsed = result.data;
  } catch (error) {
    throw refusal(
      DRIZZLE_JOURNAL,
      `it is not a drizzle-kit journal (${(error as Error).message}). Restore it from version control or regenerate it with drizzle-kit.`,
    );
  }
  if (parsed.dialect !== 'postgresql' && parsed.dialect !== 'pg') {
    throw refusal(
      DRIZZLE_JOURNAL,
      `it says these migrations were generated for ${parsed.dialect}, not PostgreSQL. Point --dir at a PostgreSQL project's drizzle folder.`,
    );
  }
  return parsed;
}
