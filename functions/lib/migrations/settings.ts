import { parseDuration } from '../duration.ts';
import { InvalidInput } from '../errors.ts';

/** How the engine treats a busy database. Every field has a default; all are configurable by flag or env. */
export interface EngineSettings {
  /** The history table, optionally schema-qualified. */
  historyTable: string;
  /** How long a run waits for another run's advisory lock before `MigrationLockBusy`. */
  lockWaitMs: number;
  /** The first `lock_timeout` of a migration's escalating schedule. */
  lockTimeoutInitialMs: number;
  /** The cap of the schedule: the longest the app's queries can queue behind a migration's lock request. */
  lockTimeoutMaxMs: number;
  /** How long a migration keeps retrying lock timeouts before it fails `LockTimeout`. */
  lockRetryBudgetMs: number;
  /** `statement_timeout` for every statement of a migration. */
  statementTimeoutMs: number;
  /**
   * `up` starts no migration when less than this is left before its deadline. By default the worst a
   * migration can take (its lock retries, then its statement timeout) plus 30 s to commit and
   * return: no migration is cut in half by the Lambda's time limit.
   */
  deadlineMarginMs: number;
  /** How long importing one migration module may take before it counts as stuck (`MigrationInvalid`). */
  importTimeoutMs: number;
}

export const DEFAULT_SETTINGS: Readonly<EngineSettings> = {
  historyTable: 'public.migration_pipeline_history',
  lockWaitMs: 10_000,
  lockTimeoutInitialMs: 100,
  lockTimeoutMaxMs: 1_000,
  lockRetryBudgetMs: 90_000,
  statementTimeoutMs: 600_000,
  deadlineMarginMs: 600_000 + 90_000 + 30_000,
  importTimeoutMs: 10_000,
};

/** The environment variable that sets each setting. */
export const SETTING_ENV: Readonly<Record<keyof EngineSettings, string>> = {
  historyTable: 'MIGRATION_HISTORY_TABLE',
  lockWaitMs: 'MIGRATION_LOCK_WAIT',
  lockTimeoutInitialMs: 'MIGRATION_LOCK_TIMEOUT_INITIAL',
  lockTimeoutMaxMs: 'MIGRATION_LOCK_TIMEOUT',
  lockRetryBudgetMs: 'MIGRATION_LOCK_RETRY_BUDGET',
  statementTimeoutMs: 'MIGRATION_STATEMENT_TIMEOUT',
  deadlineMarginMs: 'MIGRATION_DEADLINE_MARGIN',
  importTimeoutMs: 'MIGRATION_IMPORT_TIMEOUT',
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/**
 * Builds settings from defaults, then the environment, then explicit overrides (flags), validating
 * each once. Unknown override keys are refused, so a typo cannot pass silently. Messages name what
 * the person wrote: the variable a value came from, else the override's name in `overrideNames`
 * (the CLI's flags), so neither the Lambda's nor the CLI's user reads an internal field name.
 */
export function resolveSettings(
  overrides: Partial<Record<keyof EngineSettings, string | number | undefined>> = {},
  env: Record<string, string | undefined> = {},
  overrideNames: Partial<Record<keyof EngineSettings, string>> = {},
): EngineSettings {
  const settings: EngineSettings = { ...DEFAULT_SETTINGS };
  for (const key of Object.keys(overrides)) {
    if (!(key in DEFAULT_SETTINGS)) {
      throw new InvalidInput(`Unknown migration setting "${key}".`, { field: key });
    }
  }
  const nameOf = (key: keyof EngineSettings) =>
    overrides[key] !== undefined
      ? (overrideNames[key] ?? key)
      : env[SETTING_ENV[key]]
        ? SETTING_ENV[key]
        : // Left at its default: named the way this caller's user would set it.
          (overrideNames[key] ?? SETTING_ENV[key]);
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof EngineSettings)[]) {
    const raw = overrides[key] ?? env[SETTING_ENV[key]];
    if (raw === undefined || raw === '') continue;
    if (key === 'historyTable') {
      if (!IDENTIFIER.test(String(raw))) {
        throw new InvalidInput(
          `${nameOf(key)} must be a table name like "migration_history" or "ops.migration_history", got "${raw}".`,
          { field: key },
        );
      }
      settings.historyTable = canonicalTable(String(raw));
    } else {
      settings[key] = parseDuration(raw, nameOf(key));
    }
  }
  if ((overrides.deadlineMarginMs ?? env[SETTING_ENV.deadlineMarginMs] ?? '') === '') {
    settings.deadlineMarginMs = settings.statementTimeoutMs + settings.lockRetryBudgetMs + 30_000;
  }
  if (settings.lockTimeoutInitialMs > settings.lockTimeoutMaxMs) {
    throw new InvalidInput(
      `The initial lock timeout ${nameOf('lockTimeoutInitialMs')} (${settings.lockTimeoutInitialMs} ms) is above the cap ` +
        `${nameOf('lockTimeoutMaxMs')} (${settings.lockTimeoutMaxMs} ms): lower the first, or raise the second.`,
      { field: 'lockTimeoutInitialMs' },
    );
  }
  return settings;
}

/** PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1) and drops the rest. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * The one name PostgreSQL gives a validated table name: schema-qualified (unqualified means
 * `public`, never the session's search_path, which a pg_dump preamble empties), folded to lower case
 * as PostgreSQL folds an unquoted name (validated names are plain ASCII, so folding is exact), and
 * each part cut to 63 bytes. `Migration_History`, `migration_history` and
 * `public.migration_history` are one table, one lock and one queue.
 */
export function canonicalTable(name: string): string {
  const parts = name.toLowerCase().split('.');
  const [schema = 'public', table = ''] = parts.length === 2 ? parts : ['public', parts[0]];
  return `${schema.slice(0, MAX_IDENTIFIER_BYTES)}.${table.slice(0, MAX_IDENTIFIER_BYTES)}`;
}

/** A table beside `table` in its schema, named `<table><suffix>`, cut so that the suffix survives. */
export function siblingTable(table: string, suffix: string): string {
  const [schema, name = ''] = canonicalTable(table).split('.');
  return `${schema}.${name.slice(0, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
}

/** The schema of a validated table name. */
export function schemaOf(table: string): string {
  return canonicalTable(table).split('.')[0] as string;
}

/** Quotes a validated table name, schema-qualified. */
export function quoteTable(name: string): string {
  return canonicalTable(name)
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}
