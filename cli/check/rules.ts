import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInput } from '../../functions/lib/errors.ts';

export type Severity = 'error' | 'warning' | 'off';

/**
 * Our own rules, beside squawk's (which keep squawk's names). Locks and rewrites are measured on a
 * real server, not inferred from the SQL text.
 */
const OWN_RULES = {
  'table-rewrite': 'error',
  'blocks-reads-and-writes': 'warning',
  'blocks-writes': 'warning',
  'round-trip': 'error',
} as const satisfies Record<string, Severity>;

/**
 * Squawk's findings are errors unless listed here. These are advice, not danger, for migrations run
 * by this engine (each in its own transaction, with short retried lock timeouts).
 */
export const DEFAULT_SEVERITIES: Record<string, Severity> = {
  ...OWN_RULES,
  'prefer-robust-stmts': 'warning',
  'prefer-bigint-over-int': 'warning',
  'prefer-bigint-over-smallint': 'warning',
  'prefer-identity': 'warning',
  'prefer-text-field': 'warning',
  'prefer-timestamptz': 'warning',
  'ban-drop-column': 'warning',
  'ban-drop-table': 'warning',
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
