import { readFileSync } from 'node:fs';
import { parse, type Tags } from 'yaml';

/** A CloudFormation intrinsic as parsed from a short-form tag: `!Ref X` becomes `{ Ref: 'X' }`, `!Sub s` `{ 'Fn::Sub': s }`. */
const INTRINSICS = [
  'Ref',
  'GetAtt',
  'Sub',
  'Join',
  'If',
  'Equals',
  'Not',
  'And',
  'Or',
  'Select',
  'Split',
  'FindInMap',
  'Base64',
  'Cidr',
  'GetAZs',
  'ImportValue',
  'Condition',
];

const customTags: Tags = INTRINSICS.flatMap((name) => {
  const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
  const resolve = (value: unknown) => ({
    [key]: name === 'GetAtt' && typeof value === 'string' ? value.split('.') : value,
  });
  return (['scalar', 'seq', 'map'] as const).map((collection) => ({
    tag: `!${name}`,
    ...(collection === 'scalar' ? {} : { collection }),
    resolve:
      collection === 'scalar'
        ? (value: string) => resolve(value)
        : (value: { toJSON(): unknown }) => resolve(value.toJSON()),
  })) as Tags;
});

export interface Template {
  Rules: Record<
    string,
    { RuleCondition: unknown; Assertions: { Assert: unknown; AssertDescription: string }[] }
  >;
  Parameters: Record<string, { Type: string; Default?: unknown }>;
  Conditions: Record<string, unknown>;
  Globals: { Function: Record<string, unknown> };
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, unknown> }>;
  Outputs: Record<string, { Value: unknown }>;
}

export function loadTemplate(path = 'template.yaml'): Template {
  return parse(readFileSync(path, 'utf8'), { customTags }) as Template;
}

/** Every intrinsic in a value, depth first, with the value it wraps. */
export function* intrinsics(value: unknown): Generator<[string, unknown]> {
  if (Array.isArray(value)) {
    for (const item of value) yield* intrinsics(item);
  } else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      // `Condition` is an intrinsic (or a resource attribute) when it names a condition; an IAM
      // statement's `Condition` is an object.
      const isConditionName = key === 'Condition' && typeof inner === 'string';
      if (key === 'Ref' || isConditionName || key.startsWith('Fn::')) yield [key, inner];
      yield* intrinsics(inner);
    }
  }
}
