import { InvalidInput } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, min: 60_000, m: 60_000, h: 3_600_000 };

/** Parses `250`, `250ms`, `1.5s`, `10min` or `1h` into milliseconds. */
export function parseDuration(raw: string | number, field: string): number {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) return raw;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$/.exec(String(raw));
  if (!match) {
    throw new InvalidInput(`${field}: "${raw}" is not a duration; write it like 500ms, 2s or 10min.`, {
      field,
    });
  }
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1));
}
