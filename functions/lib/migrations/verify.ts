import { randomBytes } from 'node:crypto';
import { connect, describeTarget } from '../db/connection.ts';
import { InvalidInput, VerifyFailed } from '../errors.ts';
import { migrateDown, migrateUp } from './engine.ts';
import { listMigrationFiles } from './files.ts';
import { compareSnapshots, snapshotSchema } from './schemaSnapshot.ts';
import { DEFAULT_SETTINGS, type EngineSettings } from './settings.ts';
import { type Clock, type Log, silentLog, systemClock } from './types.ts';

export interface VerifyOptions {
  /** A server on which a scratch database may be created (needs CREATEDB); the database in the URL is untouched. */
  databaseUrl: string;
  migrationsDir: string;
  settings?: EngineSettings;
  log?: Log;
  clock?: Clock;
}

export interface VerifiedMigration {
  name: string;
  /** What `down` failed to restore, or what a second `up` built differently. */
  differences: string[];
  notes: string[];
}

export interface VerifyResult {
  ok: boolean;
  /** The migrations verified, in order; verification stops after one whose second `up` failed. */
  migrations: VerifiedMigration[];
}

/**
 * On a scratch database, for each migration in order: snapshot the schema, `up`, `down`, and compare
 * with the snapshot before (a `down` that forgets an index shows here); then `up` again and compare
 * with the first `up`. Column order alone is a note. The scratch database is dropped afterwards.
 */
export async function verifyMigrations(options: VerifyOptions): Promise<VerifyResult> {
  const settings = options.settings ?? DEFAULT_SETTINGS;
  const log = options.log ?? silentLog;
  const files = await listMigrationFiles(options.migrationsDir);
  const admin = await connect(options.databaseUrl);
  const scratch = `mp_verify_${randomBytes(5).toString('hex')}`;
  try {
    await admin.unsafe(`create database "${scratch}"`).catch((error) => {
      throw new InvalidInput(
        `verify needs a scratch database but cannot create one on ${describeTarget(options.databaseUrl)} ` +
          `(${(error as Error).message}). Grant CREATEDB to this user, or point DATABASE_URL at a server where it may.`,
        { field: 'DATABASE_URL' },
        { cause: error },
      );
    });
    const url = new URL(options.databaseUrl);
    url.pathname = `/${scratch}`;
    const sql = await connect(url.toString());
    const common = {
      database: sql,
      migrationsDir: options.migrationsDir,
      settings,
      log,
      clock: options.clock ?? systemClock,
      runId: scratch,
    };
    const migrations: VerifiedMigration[] = [];
    try {
      for (const file of files) {
        const snapshot = () => snapshotSchema(sql, { ignoreTable: settings.historyTable });
        const before = await snapshot();
        await migrateUp({ ...common, step: 1 });
        const afterUp = await snapshot();
        await migrateDown({ ...common, step: 1 });
        const restored = compareSnapshots(before, await snapshot());
        const result: VerifiedMigration = {
          name: file.name,
          differences: restored.differences.map((d) => `down did not restore the schema: ${d}`),
          notes: restored.notes,
        };
        migrations.push(result);
        try {
          await migrateUp({ ...common, step: 1 });
        } catch (error) {
          // A down that left objects behind usually makes the second up fail; the scratch
          // database no longer follows the history, so the migrations after it are not verified.
          result.differences.push(`up after down failed: ${(error as Error).message}`);
          log.warn(`verify ${file.name}: DIFFERS; stopping here`, { ...result });
          break;
        }
        const redone = compareSnapshots(afterUp, await snapshot());
        result.differences.push(...redone.differences.map((d) => `up after down built another schema: ${d}`));
        result.notes.push(...redone.notes);
        log.info(`verify ${file.name}: ${result.differences.length === 0 ? 'ok' : 'DIFFERS'}`, { ...result });
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
    return {
      ok: migrations.length === files.length && migrations.every((m) => m.differences.length === 0),
      migrations,
    };
  } finally {
    await admin.unsafe(`drop database if exists "${scratch}" with (force)`).catch(() => {});
    await admin.end({ timeout: 5 });
  }
}

/** Throws `VerifyFailed` for the first migration that did not round-trip, listing its differences. */
export function assertVerified(result: VerifyResult): void {
  const failed = result.migrations.find((m) => m.differences.length > 0);
  if (failed) {
    throw new VerifyFailed(
      `Migration ${failed.name} does not round-trip: ${failed.differences.join('; ')}. Make its down undo exactly what its up does.`,
      { migration: failed.name, differences: failed.differences },
    );
  }
}
