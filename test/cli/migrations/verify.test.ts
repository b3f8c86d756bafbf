import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { verifyMigrations } from '../../../cli/migrations/verify.ts';
import { adminUrl } from '../../support/database.ts';
import { migrationsDir, sqlModule } from '../../support/migrationsDir.ts';

const table = sqlModule(
  "create type status as enum ('open', 'closed'); create table t (id int generated always as identity primary key, note text, s status not null default 'open')",
  'drop table t; drop type status',
);

describe('migrate verify', () => {
  it('passes migrations whose down undoes exactly what their up does', async () => {
    const dir = await migrationsDir({
      '001-table.mjs': table,
      '002-index.mjs': sqlModule('create index t_note on t (note)', 'drop index t_note'),
      '003-check.mjs': sqlModule(
        'alter table t add constraint note_len check (length(note) < 100) not valid',
        'alter table t drop constraint note_len',
      ),
    });

    const result = await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir: dir });

    expect(result.ok).toBe(true);
    expect(result.migrations.map((m) => [m.name, m.differences])).toEqual([
      ['001-table.mjs', []],
      ['002-index.mjs', []],
      ['003-check.mjs', []],
    ]);
  });

  it('catches a down that forgets an index', async () => {
    const dir = await migrationsDir({
      '001-table.mjs': table,
      '002-index.mjs': sqlModule(
        'alter table t add column email text; create index t_email on t (email)',
        'alter table t drop column email; select 1',
      ),
      '003-forgets.mjs': sqlModule('create index t_note on t (note)', 'select 1'),
    });

    const result = await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir: dir });

    expect(result.ok).toBe(false);
    const forgets = result.migrations.find((m) => m.name === '003-forgets.mjs');
    expect(forgets?.differences).toEqual([
      'down did not restore the schema: unexpected index public.t_note (CREATE INDEX t_note ON public.t USING btree (note))',
      expect.stringContaining(
        'up after down failed: Migration 003-forgets.mjs (up) failed: relation "t_note" already exists',
      ),
    ]);
    expect(result.migrations.find((m) => m.name === '002-index.mjs')?.differences).toEqual([]);
  });

  it('catches a changed default, nullability and a forgotten enum value', async () => {
    const dir = await migrationsDir({
      '001-table.mjs': table,
      '002-alter.mjs': sqlModule(
        "alter table t alter column note set default 'x'; alter table t alter column note set not null; alter type status add value 'archived'",
        'alter table t alter column note drop not null',
      ),
    });

    const result = await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir: dir });

    const differences = result.migrations[1]?.differences.join('\n');
    expect(differences).toContain("changed column public.t.note: text -> text default 'x'::text");
    expect(differences).toContain(
      "changed type public.status: 'open', 'closed' -> 'open', 'closed', 'archived'",
    );
    expect(differences).toContain('up after down failed');
  });

  it('reports a changed column order as a note, not a failure', async () => {
    const dir = await migrationsDir({
      '001-table.mjs': table,
      '002-drop-note.mjs': sqlModule('alter table t drop column note', 'alter table t add column note text'),
    });

    const result = await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir: dir });

    expect(result.ok).toBe(true);
    expect(result.migrations[1]?.notes).toEqual([
      'column order of public.t changed: (id, note, s) -> (id, s, note)',
    ]);
    expect(result.migrations[1]?.differences).toEqual([]);
  });

  it('leaves no scratch database behind', async () => {
    // The migration writes down the scratch database it ran in: others may come and go meanwhile.
    const seen = join(tmpdir(), `scratch-${randomUUID()}.txt`);
    const dir = await migrationsDir({
      '001-table.mjs': `import { writeFileSync } from 'node:fs';
export async function up(sql) {
  const [{ name }] = await sql\`select current_database() as name\`;
  writeFileSync(${JSON.stringify(seen)}, name);
  await sql\`create table t (id int)\`;
}
export async function down(sql) { await sql\`drop table t\`; }`,
    });
    await verifyMigrations({ databaseUrl: adminUrl(), migrationsDir: dir });

    const scratchName = await readFile(seen, 'utf8');
    const admin = postgres(adminUrl(), { max: 1 });
    const left = await admin`select datname from pg_database where datname = ${scratchName}`;
    await admin.end();
    expect(scratchName).toMatch(/^mp_scratch_/);
    expect(left).toEqual([]);
  });
});
