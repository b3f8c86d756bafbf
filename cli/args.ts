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

/** Parses strictly: an unknown flag or a missing value is a usage error (exit 2), never ignored. */
export function parse<T extends Options>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Engine settings from flags over the MIGRATION_* environment, bad values reported as usage errors. */
export function settingsFrom(
  values: Partial<Record<string, string | boolean | undefined>>,
  env: Record<string, string | undefined>,
): EngineSettings {
  const flag = (name: string) => values[name] as string | undefined;
  try {
    return resolveSettings(
      {
        historyTable: flag('history-table'),
        lockTimeoutMaxMs: flag('lock-timeout'),
        lockTimeoutInitialMs: flag('lock-timeout-initial'),
        lockRetryBudgetMs: flag('lock-retry-budget'),
        lockWaitMs: flag('lock-wait'),
        statementTimeoutMs: flag('statement-timeout'),
      },
      env,
    );
  } catch (error) {
    if (error instanceof InvalidInput) throw new UsageError(error.message);
    throw error;
  }
}

/** A positive integer flag, or a usage error naming it. */
export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new UsageError(`--${flag} must be a whole number, got "${value}".`);
  return number;
}
