import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInput } from '../../functions/lib/errors.ts';

export type Severity = 'error' | 'warning' | 'off';

/**
 * Our own rules, beside squawk's (which keep squawk's names): each an operation that stalls the app
 * when the measurement shows it held a blocking lock through real work (see judge.ts), a contract
 * change, or a round trip that does not return the schema. All errors by default.
 */
export const OWN_RULES: readonly string[] = [
  'non-concurrent-index',
  'non-concurrent-reindex',
  'constraint-builds-index',
  'exclusion-constraint',
  'constraint-validates-rows',
  'set-not-null-scans',
  'column-type-rewrite',
  'add-column-rewrite',
  'add-column-with-constraint',
  'partitioned-index',
  'table-rewrite',
  'lock-held-through-work',
  'full-table-write',
  'explicit-lock',
  'vacuum-full',
  'cluster',
  'truncate',
  'drop-column',
  'drop-table',
  'rename-column',
  'rename-table',
  'rename-enum-value',
  'primary-key-sets-not-null',
  'refresh-blocks-reads',
  'json-column',
  'round-trip',
  'migration-failed',
];

/**
 * squawk's style rules are off by default: they are about taste (int or bigint, varchar or text), not
 * about what a release does to the running app, and a check that cries wolf gets switched off. Turn
 * one on with `"rules": { "prefer-bigint-over-int": "warning" }`.
 */
export const DEFAULT_SEVERITIES: Record<string, Severity> = {
  ...Object.fromEntries(OWN_RULES.map((rule) => [rule, 'error' as Severity])),
  'prefer-robust-stmts': 'off',
  'prefer-bigint-over-int': 'off',
  'prefer-bigint-over-smallint': 'off',
  'prefer-identity': 'off',
  'prefer-text-field': 'off',
  'prefer-timestamptz': 'off',
  'prefer-timestamp-tz': 'off',
  'require-enum-value-ordering': 'off',
};

/**
 * Severities by rule: the defaults, then `"migration-pipeline": { "check": { "rules": { ... } } }` in
 * package.json, then a config file (`--config`) of the same `{ "rules": { ... } }` shape.
 */
export function loadSeverities(cwd: string, configFile?: string): Record<string, Severity> {
  const severities = { ...DEFAULT_SEVERITIES };
  const packageJson = join(cwd, 'package.json');
  if (existsSync(packageJson)) {
    const rules = (
      JSON.parse(readFileSync(packageJson, 'utf8')) as {
        'migration-pipeline'?: { check?: { rules?: unknown } };
      }
    )['migration-pipeline']?.check?.rules;
    Object.assign(severities, validRules(rules, 'package.json "migration-pipeline".check.rules'));
  }
  if (configFile) {
    let parsed: { rules?: unknown };
    try {
      parsed = JSON.parse(readFileSync(configFile, 'utf8')) as { rules?: unknown };
    } catch (error) {
      throw new InvalidInput(`--config ${configFile} cannot be read as JSON (${(error as Error).message}).`, {
        field: 'config',
      });
    }
    Object.assign(severities, validRules(parsed.rules, configFile));
  }
  return severities;
}

function validRules(rules: unknown, where: string): Record<string, Severity> {
  if (rules === undefined) return {};
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    throw new InvalidInput(`${where} must map rule names to "error", "warning" or "off".`, {
      field: 'rules',
    });
  }
  for (const [rule, severity] of Object.entries(rules)) {
    if (!['error', 'warning', 'off'].includes(severity as string)) {
      throw new InvalidInput(
        `${where}: rule "${rule}" must be "error", "warning" or "off", not ${JSON.stringify(severity)}.`,
        {
          field: rule,
        },
      );
    }
  }
  return rules as Record<string, Severity>;
}

export function severityOf(rule: string, severities: Record<string, Severity>): Severity {
  return severities[rule] ?? 'error';
}
