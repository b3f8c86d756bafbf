import { readFile } from 'node:fs/promises';
import postgres, { type Sql } from 'postgres';
import { connect } from '../../functions/lib/db/connection.ts';
import { InvalidInput, PipelineError } from '../../functions/lib/errors.ts';
import { migrateUp } from '../../functions/lib/migrations/engine.ts';
import {
  findMigration,
  listMigrationFiles,
  type MigrationFile,
} from '../../functions/lib/migrations/files.ts';
import { readHistory } from '../../functions/lib/migrations/history.ts';
import { DEFAULT_SETTINGS, type EngineSettings } from '../../functions/lib/migrations/settings.ts';
import { type Log, silentLog } from '../../functions/lib/runtime.ts';
import { snapshotSchema } from '../migrations/schemaSnapshot.ts';
import { roundTrip, withScratchDatabase } from '../migrations/verify.ts';
import { type JudgedFinding, judgeMigration } from './judge.ts';
import { MigrationObserver, type ObservedStatement } from './observe.ts';
import { DEFAULT_SEVERITIES, type Severity, severityOf } from './rules.ts';
import { lintStatements } from './squawk.ts';
import { DEFAULT_SYNTHETIC_ROWS, type FillResult, fillEmptyTables } from './syntheticRows.ts';

export type CheckFinding = JudgedFinding;

export interface CheckedMigration {
  name: string;
  statements: ObservedStatement[];
  findings: CheckFinding[];
  /** Set when the round trip did not run: the migration has no down, so it stays applied and the next goes on. */
  roundTripSkipped?: 'forward-only';
  /** squawk findings the measurement disproved, each saying why. */
  cleared: string[];
  /** The synthetic rows given to empty tables before it ran, and the tables left empty (with why). */
  synthetic: FillResult;
}

export interface CheckReport {
  ok: boolean;
  errors: number;
  warnings: number;
  migrations: CheckedMigration[];
}

export interface CheckOptions {
  /** The database whose pending migrations are checked; the scratch database is created on its server. */
  databaseUrl: string;
  migrationsDir: string;
  /** Check the migrations after this one instead of the pending ones. */
  since?: string;
  /** Check this migration and the ones after it instead of the pending ones (`--base`: the first a branch added). */
  from?: string;
  /** SQL run on the scratch database before the first checked migration, so scans and rewrites are real. */
  seedFile?: string;
  /** Rows given to each table that is still empty before each checked migration (0: none). */
  rows?: number;
  /** Production's row counts by table (`schema.table`), to scale each measured hold to them. */
  productionRows?: Record<string, number>;
  severities?: Record<string, Severity>;
  settings?: EngineSettings;
  log?: Log;
}

/**
 * For each pending migration (or each after `since`), on a scratch database holding the migrations
 * before it (and the seed): runs it capturing every statement, measures the locks it holds and the
 * tables it rewrites, lints what it ran with squawk, and round-trips it (down, then up) unless it
 * has no down (forward-only: `roundTripSkipped`).
 */
export async function checkMigrations(options: CheckOptions): Promise<CheckReport> {
  const settings = options.settings ?? DEFAULT_SETTINGS;
  const severities = options.severities ?? DEFAULT_SEVERITIES;
  const log = options.log ?? silentLog;
  const files = await listMigrationFiles(options.migrationsDir);
  const toCheck = await selectMigrations(files, options);
  let observer: MigrationObserver | undefined;
  return withScratchDatabase(
    options.databaseUrl,
    async (sql, scratch, scratchUrl) => {
      const common = { database: sql, migrationsDir: options.migrationsDir, settings, log, runId: scratch };
      const [{ pid, version }] = await sql<[{ pid: number; version: string }]>`
        select pg_backend_pid() as pid, current_setting('server_version') as version`;
      const first = toCheck[0];
      const previous = first ? files[files.indexOf(first) - 1] : undefined;
      if (previous) await migrateUp({ ...common, to: previous.name });
      if (options.seedFile) await sql.unsafe(await readFile(options.seedFile, 'utf8'));
      const watcher = postgres(scratchUrl, { max: 1, onnotice: () => {} });
      const migrations: CheckedMigration[] = [];
      try {
        for (const file of toCheck) {
          const snapshot = () => snapshotSchema(sql, { ignoreTable: settings.historyTable });
          const before = await snapshot();
          // Existing tables hold data in production: empty ones get rows, so that scans and rewrites cost time.
          const synthetic = await fillEmptyTables(
            sql,
            options.rows ?? DEFAULT_SYNTHETIC_ROWS,
            settings.historyTable,
          );
          observer = new MigrationObserver(watcher);
          await observer.snapshotExisting(sql);
          const checked: CheckedMigration = {
            name: file.name,
            statements: observer.statements,
            findings: [],
            cleared: [],
            synthetic,
          };
          migrations.push(checked);
          const { tableRows } = observer;
          let failure: PipelineError | undefined;
          try {
            await migrateUp({ ...common, step: 1, instrument: observer.instrument(() => pid) });
          } catch (error) {
            if (!(error instanceof PipelineError)) throw error;
            failure = error;
          } finally {
            observer = undefined;
          }
          // What ran before a failure is still judged: the failing statement is often the unsafe one.
          const linted = await lintStatements(
            checked.statements.map((s) => s.sql),
            squawkVersion(version),
          );
          const judged = judgeMigration(checked.statements, tableRows, linted, {
            severities,
            ...(options.productionRows ? { productionRows: options.productionRows } : {}),
            budgetMs: settings.lockTimeoutMaxMs,
          });
          checked.findings.push(...judged.findings);
          checked.cleared.push(...judged.cleared);
          if (failure) {
            checked.findings.push({ rule: 'migration-failed', severity: 'error', message: failure.message });
            break;
          }
          const trip = await roundTrip(common, file.name, before, await snapshot());
          if (trip.roundTripSkipped) checked.roundTripSkipped = trip.roundTripSkipped;
          for (const difference of trip.differences) {
            const severity = severityOf('round-trip', severities);
            if (severity !== 'off') {
              checked.findings.push({
                rule: 'round-trip',
                severity,
                message: difference,
                help: 'Make down undo exactly what up does.',
              });
            }
          }
          if (trip.stopped) break;
        }
      } finally {
        await watcher.end({ timeout: 5 });
      }
      const all = migrations.flatMap((m) => m.findings);
      const errors = all.filter((f) => f.severity === 'error').length;
      return { ok: errors === 0, errors, warnings: all.length - errors, migrations };
    },
    { debug: (connection, query) => observer?.record(connection, query) },
  );
}

async function selectMigrations(files: MigrationFile[], options: CheckOptions): Promise<MigrationFile[]> {
  if (options.from !== undefined) {
    const from = findMigration(files, options.from);
    return from ? files.slice(files.indexOf(from)) : [];
  }
  if (options.since !== undefined) {
    const since = findMigration(files, options.since);
    if (!since)
      throw new InvalidInput(`--since ${options.since}: no such migration in the folder.`, {
        field: 'since',
      });
    return files.slice(files.indexOf(since) + 1);
  }
  const target: Sql = await connect(options.databaseUrl);
  try {
    const applied = new Set(
      (await readHistory(target, (options.settings ?? DEFAULT_SETTINGS).historyTable)).map((row) => row.name),
    );
    return files.filter((file) => !applied.has(file.name));
  } finally {
    await target.end({ timeout: 5 });
  }
}

/** squawk's --pg-version: major.minor of the server the migrations ran on. */
function squawkVersion(serverVersion: string): string {
  const version = /^\d+(\.\d+)?/.exec(serverVersion)?.[0] ?? '17';
  return version.includes('.') ? version : `${version}.0`;
}
