import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import type { MigrationFormat } from '../../functions/lib/migrations/formats/detect.ts';
import { DRIZZLE_JOURNAL } from '../../functions/lib/migrations/formats/drizzle.ts';
import { descriptionWords, nextNumber, timestamp } from './numbering.ts';

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
  const words = descriptionWords(description, '_');
  const existing = (await listMigrationFiles(dir)).map((file) => file.name);
  const header = `-- ${description}\n`;
  switch (format) {
    case 'flyway': {
      // Scripts may sit in a subfolder (v2/V10__x.sql): the version is the file name's.
      const version = nextNumber(
        existing.map((name) => /^V(\d+)/.exec(posix.basename(name))?.[1]),
        now,
        1,
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
        1,
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
      const newest = /^\d{14}/.exec(existing.at(-1) ?? '')?.[0];
      let stamp = timestamp(now);
      // Two in the same second would share a prefix; Prisma orders by folder name.
      if (newest !== undefined && stamp <= newest) stamp = String(BigInt(newest) + 1n);
      return writeAll(dir, [[`${stamp}_${words}/migration.sql`, header]], `${stamp}_${words}`);
    }
    case 'drizzle':
      return scaffoldDrizzle(dir, words, header, now);
  }
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
