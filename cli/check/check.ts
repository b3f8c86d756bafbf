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
import { type HeldLock, MigrationObserver, type ObservedStatement } from './observe.ts';
import { DEFAULT_SEVERITIES, type Severity, severityOf } from './rules.ts';
import { lintStatements } from './squawk.ts';

export interface CheckFinding {
  rule: string;
  severity: Exclude<Severity, 'off'>;
  message: string;
  /** The safer pattern. */
  help?: string;
  /** The statement it is about, as the migration sent it (shortened). */
  statement?: string;
  lock?: HeldLock;
}

export interface CheckedMigration {
  name: string;
  statements: ObservedStatement[];
  findings: CheckFinding[];
  /** Set when the round trip did not run: the migration has no down, so it stays applied and the next goes on. */
  roundTripSkipped?: 'forward-only';
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
  /** SQL run on the scratch database before the first checked migration, so scans and rewrites are real. */
  seedFile?: string;
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
          observer = new MigrationObserver(watcher);
          await observer.snapshotExisting(sql);
          const checked: CheckedMigration = {
            name: file.name,
            statements: observer.statements,
            findings: [],
          };
          migrations.push(checked);
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
          checked.findings.push(...measuredFindings(checked.statements, severities));
          checked.findings.push(...(await lintFindings(checked.statements, version, severities)));
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

const SAFER = {
  rewrite:
    'The table was rewritten: every row copied while ACCESS EXCLUSIVE blocks reads and writes. Safer: add the column nullable or with a constant default, backfill in batches (inBatches), or add a new column and switch over.',
  'reads and writes':
    'Keep the statement instant (no rewrite, no full scan): the engine keeps the wait for this lock short, but while held it stops all reads and writes. E.g. add constraints NOT VALID and VALIDATE them apart.',
  writes:
    'Use CREATE INDEX CONCURRENTLY in a migration with `export const transaction = false`; for foreign keys and checks, add them NOT VALID, then VALIDATE CONSTRAINT in a later migration.',
};

/** What a measured lock means for this kind of statement: some take a blocking lock only for an instant. */
function lockAdvice(statement: string, blocks: HeldLock['blocks']): string {
  if (/^\s*create\s+table/i.test(statement)) {
    return "Brief: a new table's foreign key locks the table it references until the migration commits. Keep the migration short.";
  }
  if (/\bnot\s+valid\b/i.test(statement)) {
    return 'Brief: NOT VALID skips the scan of existing rows; VALIDATE CONSTRAINT in a later migration takes only SHARE UPDATE EXCLUSIVE.';
  }
  if (/\badd\s+column\b/i.test(statement)) {
    return "Brief when no rewrite follows (a nullable column, or a constant default since PostgreSQL 11); the engine's short lock_timeout bounds the wait for the lock.";
  }
  return SAFER[blocks];
}

function measuredFindings(
  statements: ObservedStatement[],
  severities: Record<string, Severity>,
): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const add = (rule: string, finding: Omit<CheckFinding, 'rule' | 'severity'>) => {
    const severity = severityOf(rule, severities);
    if (severity !== 'off') findings.push({ rule, severity, ...finding });
  };
  for (const statement of statements.filter((s) => !s.byEngine)) {
    const text = shorten(statement.sql);
    for (const relation of statement.rewrites) {
      add('table-rewrite', { message: `rewrote ${relation}`, help: SAFER.rewrite, statement: text });
    }
    for (const lock of statement.locks) {
      add(lock.blocks === 'writes' ? 'blocks-writes' : 'blocks-reads-and-writes', {
        message: `holds ${lock.mode} on ${lock.relation} until the migration commits: blocks ${lock.blocks}`,
        help: lockAdvice(statement.sql, lock.blocks),
        statement: text,
        lock,
      });
    }
  }
  return findings;
}

async function lintFindings(
  statements: ObservedStatement[],
  version: string,
  severities: Record<string, Severity>,
): Promise<CheckFinding[]> {
  const pgVersion = /^\d+(\.\d+)?/.exec(version)?.[0] ?? '17';
  const findings = await lintStatements(
    statements.map((s) => s.sql),
    pgVersion.includes('.') ? pgVersion : `${pgVersion}.0`,
  );
  return findings.flatMap((finding) => {
    const statement = statements[finding.statement];
    const severity = severityOf(finding.rule, severities);
    // The engine's own statements (transaction, timeouts, history) are context for squawk, not findings.
    if (!statement || statement.byEngine || severity === 'off') return [];
    return [
      {
        rule: finding.rule,
        severity,
        message: finding.message,
        ...(finding.help ? { help: finding.help } : {}),
        statement: shorten(statement.sql),
      },
    ];
  });
}

function shorten(sql: string): string {
  const oneLine = sql.replace(/\s+/g, ' ').trim();
  return oneLine.length > 160 ? `${oneLine.slice(0, 157)}...` : oneLine;
}
