import { InvalidInput } from '../errors.ts';

/** Small strict validators: every failure is `InvalidInput` naming the field, never echoing long values. */

export function objectAt(
  value: unknown,
  field: string,
  allowedKeys: readonly string[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInput(`${field} must be a JSON object.`, { field });
  }
  const unknown = Object.keys(value).filter((key) => !allowedKeys.includes(key));
  if (unknown.length > 0) {
    throw new InvalidInput(
      `${field} has unknown field(s) ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')}; allowed: ${allowedKeys.join(', ')}.`,
      { field: `${field}.${unknown[0]?.slice(0, 40)}` },
    );
  }
  return value as Record<string, unknown>;
}

export function stringAt(
  object: Record<string, unknown>,
  key: string,
  field: string,
  { pattern, maxLength = 256, what }: { pattern?: RegExp; maxLength?: number; what?: string } = {},
): string {
  const value = object[key];
  const name = `${field}.${key}`;
  if (typeof value !== 'string' || value === '')
    throw new InvalidInput(`${name} is required and must be a string.`, { field: name });
  if (value.length > maxLength)
    throw new InvalidInput(`${name} is longer than ${maxLength} characters.`, { field: name });
  if (pattern && !pattern.test(value))
    throw new InvalidInput(`${name} must be ${what ?? `like ${pattern}`}.`, { field: name });
  return value;
}

export function optionalStringAt(
  object: Record<string, unknown>,
  key: string,
  field: string,
  options?: Parameters<typeof stringAt>[3],
): string | undefined {
  return object[key] === undefined ? undefined : stringAt(object, key, field, options);
}

export function optionalBooleanAt(
  object: Record<string, unknown>,
  key: string,
  field: string,
): boolean | undefined {
  const value = object[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw new InvalidInput(`${field}.${key} must be true or false.`, { field: `${field}.${key}` });
  return value;
}
