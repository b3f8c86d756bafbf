import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import {
  DRIZZLE_FOLDER,
  FLYWAY_FOLDER,
  GOLANG_MIGRATE_FOLDER,
  PRISMA_FOLDER,
} from '../support/foreignFolders.ts';
import { migrationsDir } from '../support/migrationsDir.ts';

/** A team's folder as its tool left it, driven with the CLI as a person types it. */
describe("the CLI on other tools' folders", () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const cli = (dir: string, ...args: string[]) =>
    runCliProcess([...args, '--dir', dir], { variables: { DATABASE_URL: db.url }, cwd: dir });

  const CASES = [
    {
      format: 'flyway',
      folder: FLYWAY_FOLDER,
      baselineTo: 'V1_1__create_orders',
      created: /^Created V11__add_order_notes\.sql\nCreated U11__add_order_notes\.sql\n$/,
      newName: 'V11__add_order_notes.sql',
      newFile: 'V11__add_order_notes.sql',
      reversible: true,
    },
    {
      format: 'golang-migrate',
      folder: GOLANG_MIGRATE_FOLDER,
      baselineTo: '000002_create_orders',
      created: /^Created 000011_add_order_notes\.up\.sql\nCreated 000011_add_order_notes\.down\.sql\n$/,
      newName: '000011_add_order_notes',
      newFile: '000011_add_order_notes.up.sql',
      reversible: true,
    },
    {
      format: 'prisma',
      folder: PRISMA_FOLDER,
      baselineTo: '20240212110000_orders',
      created: /^Created \d{14}_add_order_notes\/migration\.sql\n$/,
      newName: undefined,
      newFile: undefined,
      reversible: false,
    },
    {
      format: 'drizzle',
      folder: DRIZZLE_FOLDER,
      baselineTo: '0001_orders',
      created: /^Created 0003_add_order_notes\.sql\nCreated meta\/_journal\.json\n$/,
      newName: '0003_add_order_notes',
      newFile: '0003_add_order_notes.sql',
      reversible: false,
    },
  ] as const;

  for (const { format, folder, baselineTo, created, newName, newFile, reversible } of CASES) {
    it(`${format}: baseline a database the tool built, then migrate new, up, status${reversible ? ', down' : ''}`, async () => {
      const dir = await migrationsDir(folder);
      // The database as the other tool left it: the first migrations' tables, built without us.
      const first = await migrationsDir(folder);
      const built = await cli(first, 'migrate', 'up', '--to', baselineTo);
      expect(built.code, built.stderr).toBe(0);
      await db.sql.unsafe('drop table migration_pipeline_history');

      const baseline = await cli(dir, 'migrate', 'baseline', '--to', baselineTo, '--yes', '--json');
      expect(baseline.code, baseline.stderr).toBe(0);
      const recorded: string[] = JSON.parse(baseline.stdout).recorded;
      expect(recorded.at(-1)?.replace(/\.sql$/, '')).toBe(baselineTo);

      const scaffold = await cli(dir, 'migrate', 'new', 'add order notes');
      expect(scaffold.code, scaffold.stderr).toBe(0);
      expect(scaffold.stdout).toMatch(created);
      const upFile = newFile ?? scaffold.stdout.slice('Created '.length).trim();
      const table = format === 'prisma' ? '"Order"' : 'orders';
      await writeFile(join(dir, upFile), `ALTER TABLE ${table} ADD COLUMN notes text;\n`);
      if (reversible) {
        const downFile = upFile.replace(/^V/, 'U').replace('.up.sql', '.down.sql');
        await writeFile(join(dir, downFile), `ALTER TABLE ${table} DROP COLUMN notes;\n`);
      }

      const up = await cli(dir, 'migrate', 'up', '--json');
      expect(up.code, up.stderr).toBe(0);
      const applied: string[] = JSON.parse(up.stdout).applied;
      expect(applied.slice(0, -1)).toEqual(Object.keys(folder).length > 0 ? applied.slice(0, -1) : []);
      expect(applied.at(-1)).toBe(newName ?? upFile.split('/')[0]);
      expect(applied).not.toContain(baselineTo);
      const [column] = await db.sql`select 1 from information_schema.columns where column_name = 'notes'`;
      expect(column).toBeDefined();

      const status = await cli(dir, 'migrate', 'status', '--json');
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ format, pending: [] });
      expect((await cli(dir, 'migrate', 'status')).stdout).toMatch(/^Layout: \S+/);

      const down = await cli(dir, 'migrate', 'down');
      if (reversible) {
        expect(down.code, down.stderr).toBe(0);
        const [gone] = await db.sql`select 1 from information_schema.columns where column_name = 'notes'`;
        expect(gone).toBeUndefined();
      } else {
        expect(down.code).toBe(1);
        expect(down.stderr).toContain(newName ?? upFile.split('/')[0]);
      }
    });
  }

  it("migrate new refuses --format in another tool's folder, writing nothing", async () => {
    const dir = await migrationsDir(FLYWAY_FOLDER);
    const result = await cli(dir, 'migrate', 'new', 'x', '--format', 'ts');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--format ts is for ley and dbmate folders; .* Flyway/);
    expect(Object.keys(FLYWAY_FOLDER).sort()).toEqual(
      (await import('node:fs/promises').then((fs) => fs.readdir(dir))).sort(),
    );
  });

  it('drizzle: the journal keeps what drizzle-kit wrote and gains the new entry', async () => {
    const dir = await migrationsDir(DRIZZLE_FOLDER);
    expect((await cli(dir, 'migrate', 'new', 'add order notes')).code).toBe(0);
    const journal = JSON.parse(await readFile(join(dir, 'meta/_journal.json'), 'utf8'));
    expect(journal.dialect).toBe('postgresql');
    expect(journal.entries.at(-1)).toMatchObject({ idx: 3, tag: '0003_add_order_notes', breakpoints: true });
    expect(journal.entries).toHaveLength(4);
  });
});
