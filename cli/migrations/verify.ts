import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import { type ConnectionOptions, connect, describeTarget } from '../../functions/lib/db/connection.ts';
import {
  InvalidInput,
  MigrationsIrreversible,
  RollbackFailed,
  VerifyFailed,
} from '../../functions/lib/errors.ts';
import { type MigrateOptions, migrateDown, migrateUp } from '../../functions/lib/migrations/engine.ts';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import { DEFAULT_SETTINGS, type EngineSettings } from '../../functions/lib/migrations/settings.ts';
import { type Clock, type Log, silentLog, systemClock } from '../../functions/lib/runtime.ts';
import { compareSnapshots, type SchemaSnapshot, snapshotSchema } from './schemaSnapshot.ts';

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
  /** Set when the round trip did not run: the migration has no down, so it stays applied and the next goes on. */
  roundTripSkipped?: 'forward-only';
}

export interface VerifyResult {
  ok: boolean;
  /** The migrations verified, in order; verification stops after one whose second `up` failed. */
  migrations: VerifiedMigration[];
}

/**
 * On a scratch database, for each migration in order: snapshot the schema, `up`, `down`, and compare
 * with the snapshot before (a `down` that forgets an index shows here); then `up` again and compare
 * with the first `up`. Column order alone is a note, and so is a migration without a down (forward-only),
 * whose round trip is skipped. The scratch database is dropped afterwards.
 */
export async function verifyMigrations(options: VerifyOptions): Promise<VerifyResult> {
  const settings = options.settings ?? DEFAULT_SETTINGS;
  const log = options.log ?? silentLog;
  const files = await listMigrationFiles(options.migrationsDir);
  return withScratchDatabase(options.databaseUrl, async (sql, scratch) => {
    const common = {
      database: sql,
      migrationsDir: options.migrationsDir,
      settings,
      log,
      clock: options.clock ?? systemClock,
      runId: scratch,
    };
    const snapshot = () => snapshotSchema(sql, { ignoreTable: settings.historyTable });
    const migrations: VerifiedMigration[] = [];
    for (const file of files) {
      const before = await snapshot();
      await migrateUp({ ...common, step: 1 });
      const { stopped, ...result } = await roundTrip(common, file.name, before, await snapshot());
      migrations.push(result);
      log.info(`verify ${file.name}: ${result.differences.length === 0 ? 'ok' : 'DIFFERS'}`, { ...result });
      // A down that left objects behind usually makes the second up fail; the scratch database no
      // longer follows the history, so the migrations after it are not verified.
      if (stopped) break;
    }
    return {
      ok: migrations.length === files.length && migrations.every((m) => m.differences.length === 0),
      migrations,
    };
  });
}

/**
 * The second half of a round trip, once a migration's `up` ran: `down` must restore `before`, and
 * `up` again must build `afterUp` again. `stopped` when the second `up` failed. A migration without
 * a down is skipped (`roundTripSkipped`), left applied, not a difference.
 */
export async function roundTrip(
  common: MigrateOptions & { database: Sql },
  name: string,
  before: SchemaSnapshot,
  afterUp: SchemaSnapshot,
): Promise<VerifiedMigration & { stopped: boolean }> {
  const settings = common.settings ?? DEFAULT_SETTINGS;
  const snapshot = () => snapshotSchema(common.database, { ignoreTable: settings.historyTable });
  try {
    await migrateDown({ ...common, step: 1 });
  } catch (error) {
    if (error instanceof RollbackFailed) {
      // Its transaction rolled back: the migration stays applied, and the next one can still be judged.
      return {
        name,
        differences: [`down failed: ${error.message}`],
        notes: [],
        stopped: false,
      };
    }
    if (!(error instanceof MigrationsIrreversible)) throw error;
    return {
      name,
      differences: [],
      notes: ['no down (forward-only): round trip skipped; it stays applied under the next ones'],
      roundTripSkipped: 'forward-only',
      stopped: false,
    };
  }
  const restored = compareSnapshots(before, await snapshot());
  const result = {
    name,
    differences: restored.differences.map((d) => `down did not restore the schema: ${d}`),
    notes: restored.notes,
    stopped: false,
  };
  try {
    await migrateUp({ ...common, step: 1 });
  } catch (error) {
    result.differences.push(`up after down failed: ${(error as Error).message}`);
    return { ...result, stopped: true };
  }
  const redone = compareSnapshots(afterUp, await snapshot());
  result.differences.push(...redone.differences.map((d) => `up after down built another schema: ${d}`));
  result.notes.push(...redone.notes);
  return result;
}

/**
 * Creates a scratch database on the server of `databaseUrl` (the database in the URL is untouched),
 * hands `body` a session on it, and drops it afterwards whatever happens.
 */
export async function withScratchDatabase<T>(
  databaseUrl: string,
  body: (sql: Sql, name: string, url: string) => Promise<T>,
  options: ConnectionOptions = {},
): Promise<T> {
  const admin = await connect(databaseUrl);
  const scratch = `mp_scratch_${randomBytes(5).toString('hex')}`;
  try {
    await admin.unsafe(`create database "${scratch}"`).catch((error) => {
      throw new InvalidInput(
        `A scratch database cannot be created on ${describeTarget(databaseUrl)} (${(error as Error).message}). ` +
          'Grant CREATEDB to this user, or point DATABASE_URL at a server where it may.',
        { field: 'DATABASE_URL' },
        { cause: error },
      );
    });
    const url = new URL(databaseUrl);
    url.pathname = `/${scratch}`;
    const sql = await connect(url.toString(), options);
    try {
      return await body(sql, scratch, url.toString());
    } finally {
      await sql.end({ timeout: 5 });
    }
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
