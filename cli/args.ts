import { type ParseArgsConfig, parseArgs } from 'node:util';
import { InvalidInput } from '../functions/lib/errors.ts';
import { type EngineSettings, resolveSettings } from '../functions/lib/migrations/index.ts';
import { UsageError } from './io.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every migrate command takes. */
export const COMMON_OPTIONS = {
  dir: { type: 'string', default: 'migrations' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  'history-table': { type: 'string' },
} as const satisfies Options;

/** Flags of the commands that can read the migrations inside an image instead of a folder. */
export const IMAGE_OPTIONS = {
  image: { type: 'string' },
  'migrations-path': { type: 'string' },
} as const satisfies Options;

/** Whether `--dir` was given (its default cannot tell). */
export function dirGiven(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === '--dir' || arg.startsWith('--dir='));
}

/** Flags of the commands that take the migration lock and run migrations. */
export const RUN_OPTIONS = {
  'run-id': { type: 'string' },
  'lock-timeout': { type: 'string' },
  'lock-timeout-initial': { type: 'string' },
  'lock-retry-budget': { type: 'string' },
  'lock-wait': { type: 'string' },
  'lock-retries': { type: 'string', default: '5' },
  'statement-timeout': { type: 'string' },
} as const satisfies Options;

/**
 * Parses strictly: an unknown flag or a missing value is a usage error (exit 2), never ignored. An
 * empty `--run-id` too: the history would record migrations applied by no run, which no
 * `down --run` could select.
 */
export function parse<T extends Options>(argv: string[], options: T, allowPositionals = false) {
  const parsed = parseStrictly(argv, options, allowPositionals);
  const runId = (parsed.values as Record<string, unknown>)['run-id'];
  if (typeof runId === 'string' && runId.trim() === '') {
    throw new UsageError(
      '--run-id must not be empty: it is recorded as applied_by, and selects a run to revert.',
    );
  }
  return parsed;
}

function parseStrictly<T extends Options>(argv: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The flag of each engine setting a command can take (the rest come from MIGRATION_* only). */
const SETTING_FLAGS: Partial<Record<keyof EngineSettings, string>> = {
  historyTable: '--history-table',
  lockTimeoutMaxMs: '--lock-timeout',
  lockTimeoutInitialMs: '--lock-timeout-initial',
  lockRetryBudgetMs: '--lock-retry-budget',
  lockWaitMs: '--lock-wait',
  statementTimeoutMs: '--statement-timeout',
};

/**
 * Engine settings from flags over the MIGRATION_* environment, bad values reported as usage errors
 * that name what the person typed: the flag, or the variable the value came from.
 */
export function settingsFrom(
  values: Partial<Record<string, string | boolean | undefined>>,
  env: Record<string, string | undefined>,
): EngineSettings {
  const overrides = Object.fromEntries(
    Object.entries(SETTING_FLAGS).map(([key, flag]) => [key, values[flag.slice(2)] as string | undefined]),
  );
  try {
    return resolveSettings(overrides, env, SETTING_FLAGS);
  } catch (error) {
    if (error instanceof InvalidInput) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * A whole-number flag (0 or more) written in plain digits, or a usage error naming it. `Number()`
 * alone would take `1e3`, `0x10`, ` 2` and the empty string (as 0).
 */
export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${flag} must be a whole number, got "${value}".`);
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new UsageError(`--${flag} is too large, got "${value}".`);
  return number;
}

/** `--step N` of up and down: 0 would do nothing, so it is a usage error like any bad count. */
export function stepCount(value: string | undefined): number | undefined {
  const step = positiveInteger(value, 'step');
  if (step === 0) throw new UsageError('--step must be 1 or more: --step 0 would change nothing.');
  return step;
}
