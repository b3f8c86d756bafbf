import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import type { MigrationFormat } from '../../functions/lib/migrations/formats/detect.ts';
import { DRIZZLE_JOURNAL } from '../../functions/lib/migrations/formats/drizzle.ts';

export interface Scaffolded {
  /** The migration's name, as the history will record it. */
  name: string;
  /** The file to fill in first (the up). */
  path: string;
  /** Every file written, the up first. */
  paths: string[];
}

/**
 * The next migration of another tool's folder, named and shaped as that tool would write it, so
 * that the folder stays the tool's own: Flyway's V/U pair, golang-migrate's up/down pair, Prisma's
 * migration folder, or a Drizzle file with its journal entry.
 */
export async function scaffoldForeignMigration(
  format: Exclude<MigrationFormat, 'ley'>,
  dir: string,
  description: string,
  now: Date,
): Promise<Scaffolded> {
  const words = description
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  const existing = (await listMigrationFiles(dir)).map((file) => file.name);
  const header = `-- ${description}\n`;
  switch (format) {
    case 'flyway': {
      const version = nextNumber(
        existing.map((name) => /^V(\d+)/.exec(name)?.[1]),
        now,
      );
      return writeAll(dir, [
        [`V${version}__${words}.sql`, header],
        [`U${version}__${words}.sql`, `-- Undo: ${description}\n`],
      ]);
    }
    case 'golang-migrate': {
      const version = nextNumber(
        existing.map((name) => /^(\d+)_/.exec(name)?.[1]),
        now,
      );
      return writeAll(
        dir,
        [
          [`${version}_${words}.up.sql`, header],
          [`${version}_${words}.down.sql`, `-- Undo: ${description}\n`],
        ],
        `${version}_${words}`,
      );
    }
    case 'prisma': {
      const newest = existing.at(-1)?.slice(0, 14);
      let stamp = timestamp(now);
      // Two in the same second would share a prefix; Prisma orders by folder name.
      if (newest !== undefined && stamp <= newest) stamp = String(BigInt(newest) + 1n);
      return writeAll(dir, [[`${stamp}_${words}/migration.sql`, header]], `${stamp}_${words}`);
    }
    case 'drizzle':
      return scaffoldDrizzle(dir, words, header, now);
  }
}

/** The next number after the folder's newest, padded like it; a timestamp when the folder uses them. */
function nextNumber(numbers: (string | undefined)[], now: Date): string {
  const last = numbers.filter((number): number is string => number !== undefined).at(-1);
  if (last && last.length >= 12) {
    const stamp = timestamp(now);
    return stamp > last ? stamp : String(BigInt(last) + 1n);
  }
  return String(BigInt(last ?? '0') + 1n).padStart(last?.length ?? 1, '0');
}

function timestamp(now: Date): string {
  return now.toISOString().replace(/\D/g, '').slice(0, 14);
}

async function writeAll(dir: string, files: [string, string][], name?: string): Promise<Scaffolded> {
  const paths: string[] = [];
  for (const [relativePath, content] of files) {
    const path = join(dir, relativePath);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content, { flag: 'wx' });
    paths.push(path);
  }
  return { name: name ?? (files[0]?.[0] as string), path: paths[0] as string, paths };
}

/** drizzle-kit applies what its journal lists: the new file gets the next entry, the rest kept as written. */
async function scaffoldDrizzle(dir: string, words: string, header: string, now: Date): Promise<Scaffolded> {
  const journalPath = join(dir, DRIZZLE_JOURNAL);
  const text = await readFile(journalPath, 'utf8');
  // Parsed loosely and written back whole: fields this tool does not know stay as drizzle-kit wrote them.
  const journal = JSON.parse(text) as { entries: Record<string, unknown>[] };
  const last = journal.entries.at(-1);
  const idx = typeof last?.idx === 'number' ? last.idx + 1 : journal.entries.length;
  const tag = `${String(idx).padStart(4, '0')}_${words}`;
  const created = await writeAll(dir, [[`${tag}.sql`, header]], tag);
  journal.entries.push({ idx, version: last?.version ?? '7', when: now.getTime(), tag, breakpoints: true });
  const indent = /\n(\s+)"/.exec(text)?.[1] ?? '  ';
  await writeFile(journalPath, `${JSON.stringify(journal, null, indent)}${text.endsWith('\n') ? '\n' : ''}`);
  return { ...created, paths: [...created.paths, journalPath] };
}
