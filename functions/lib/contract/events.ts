import * as z from 'zod/mini';
import { InvalidInput } from '../errors.ts';

/**
 * The events the state machine sends each function, as schemas: the TypeScript types are inferred
 * from them, so a field the ASL sends cannot be dropped by a parser declared apart from its type.
 * Every refusal is `InvalidInput` naming the field, never echoing the value.
 */

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const IMAGE_URI = /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+(?::[A-Za-z0-9_.-]{1,128}|@sha256:[a-f0-9]{64})?$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;
const BUNDLE_KEY = /^bundles\/[a-f0-9]{64}\.tar$/;
// The run id is always the execution's ARN ($$.Execution.Id).
const EXECUTION_ARN =
  /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$/;
// $$.Execution.StartTime and the deploy step's own timestamps.
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
// An App Runner operation id (a UUID) or an ECS deployment id (ecs-svc/1234567890123456789).
const OPERATION_ID = /^[A-Za-z0-9/_-]{1,128}$/;
const TASK_DEFINITION_ARN =
  /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[A-Za-z0-9_-]{1,255}:\d+$/;

const text = (pattern: RegExp, what: string, maxLength = 256) =>
  z
    .string()
    .check(
      z.maxLength(maxLength, `is longer than ${maxLength} characters`),
      z.regex(pattern, `must be ${what}`),
    );

const executionName = z.optional(text(EXECUTION_NAME, 'a Step Functions execution name'));
const executionArn = text(EXECUTION_ARN, "the execution's ARN ($$.Execution.Id)");
const isoTime = text(ISO_TIME, 'an ISO 8601 UTC time like 2026-11-25T06:00:00.000Z', 40);

export const imageInputSchema = z.strictObject({
  uri: text(
    IMAGE_URI,
    'an image URI like 123456789012.dkr.ecr.us-east-2.amazonaws.com/app:tag or ...@sha256:<digest>',
    512,
  ),
  digest: z.optional(text(DIGEST, 'sha256:<64 hex digits>')),
  tag: z.optional(text(TAG, 'a Docker tag')),
});
export type ImageInput = z.infer<typeof imageInputSchema>;

/** What starts a release: the image to deploy, who asked, and whether to change anything. */
export const pipelineInputSchema = z.strictObject({
  image: imageInputSchema,
  /** Who started it: "ci", "console", "ecr-push", a person's name... shown in logs and notifications. */
  source: z.string().check(z.minLength(1, 'is required'), z.maxLength(128, 'is longer than 128 characters')),
  /** Check connectivity and report the plan; apply and deploy nothing. */
  dryRun: z.optional(z.boolean()),
});
export type PipelineInput = z.infer<typeof pipelineInputSchema>;

/** ResolveImage: the execution's input as it was started (validated here, first). */
export const resolveEventSchema = z.strictObject({ input: pipelineInputSchema, executionName });
export type ResolveEvent = z.infer<typeof resolveEventSchema>;

/** A migrations bundle by its content address (see functions/lib/bundle). */
export const bundleRefSchema = z.strictObject({
  sha256: text(SHA256_HEX, "64 hex digits (the bundle's SHA-256)", 64),
  key: text(BUNDLE_KEY, 'bundles/<sha256>.tar', 80),
  migrations: z.number().check(z.int(), z.gte(0), z.lte(100_000)),
});
export type BundleRefInput = z.infer<typeof bundleRefSchema>;

/**
 * What ResolveImage found: the image pinned by the digest its registry resolved (a local run from a
 * folder may only have a tag), and its migrations as a bundle.
 */
export const releaseSchema = z.strictObject({
  image: imageInputSchema,
  bundle: bundleRefSchema,
  migrationsPath: text(/^\/[^\0]*$/, 'an absolute path in the image', 1024),
});
export type Release = z.infer<typeof releaseSchema>;

/** CheckConnectivity: the pipeline input, the resolved release, and the execution that asks for its turn. */
export const connectivityEventSchema = z.strictObject({
  input: pipelineInputSchema,
  release: releaseSchema,
  executionId: executionArn,
  executionName,
  startedAt: isoTime,
});
export type ConnectivityEvent = z.infer<typeof connectivityEventSchema>;

/** How a release ended, as the state machine reports it to the queue. */
export const RELEASE_OUTCOMES = ['released', 'failed', 'rollback_failed'] as const;
export type ReleaseOutcome = (typeof RELEASE_OUTCOMES)[number];

export const migrateEventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('up'), runId: executionArn, bundle: bundleRefSchema, executionName }),
  z.strictObject({
    action: z.literal('rollback'),
    runId: executionArn,
    bundle: bundleRefSchema,
    executionName,
  }),
  z.strictObject({
    action: z.literal('end'),
    runId: executionArn,
    outcome: z.enum(RELEASE_OUTCOMES, `must be one of ${RELEASE_OUTCOMES.join(', ')}`),
    executionName,
  }),
]);
export type MigrateEvent = z.infer<typeof migrateEventSchema>;

/** What the service ran before the release: restored if anything fails after the deployment started. */
export const previousDeploymentSchema = z.strictObject({
  image: z.optional(imageInputSchema.shape.uri),
  taskDefinition: z.optional(text(TASK_DEFINITION_ARN, 'an ECS task definition ARN with its revision', 512)),
});
export type PreviousDeployment = z.infer<typeof previousDeploymentSchema>;

export const deployEventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('preflight'), image: imageInputSchema, executionName }),
  z.strictObject({ action: z.literal('start'), image: imageInputSchema, executionName }),
  z.strictObject({
    action: z.literal('status'),
    operationId: text(OPERATION_ID, 'an App Runner operation id or an ECS deployment id'),
    startedAt: z.optional(isoTime),
    executionName,
  }),
  z.strictObject({ action: z.literal('restore'), previous: previousDeploymentSchema, executionName }),
]);
export type DeployEvent = z.infer<typeof deployEventSchema>;

/**
 * Parses `value` against `schema`, or fails `InvalidInput` naming the first wrong field (`event.runId`,
 * `input.image.digest`...). Messages describe what was expected, never the value received.
 */
export function parseWith<Schema extends z.ZodMiniType>(
  schema: Schema,
  value: unknown,
  root: string,
): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data as z.infer<Schema>;
  const issue = parsed.error.issues[0];
  const path = [root, ...(issue?.path ?? []).map(String)];
  let problem = issue?.message && issue.message !== 'Invalid input' ? issue.message : 'is not valid';
  switch (issue?.code) {
    case 'unrecognized_keys': {
      const keys = (issue.keys ?? []).map((key) => key.slice(0, 40));
      path.push(keys[0] ?? '');
      problem = `is not a known field (unknown: ${keys.map((key) => `"${key}"`).join(', ')})`;
      break;
    }
    case 'invalid_type':
      problem =
        valueAt(value, issue.path) === undefined
          ? `is required and must be ${expectedOf(issue.expected)}`
          : `must be ${expectedOf(issue.expected)}`;
      break;
    case 'invalid_union':
      problem = 'must be one of the actions this function takes';
      break;
    case 'invalid_value':
      problem = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      break;
  }
  const field = path.join('.');
  throw new InvalidInput(`${field} ${problem}.`, { field });
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function expectedOf(expected: string): string {
  if (expected === 'object') return 'a JSON object';
  if (expected === 'boolean') return 'true or false';
  return `a ${expected}`;
}

export const parsePipelineInput = (value: unknown, root = 'input'): PipelineInput =>
  parseWith(pipelineInputSchema, value, root);
export const parseResolveEvent = (value: unknown): ResolveEvent =>
  parseWith(resolveEventSchema, value, 'event');
export const parseConnectivityEvent = (value: unknown): ConnectivityEvent =>
  parseWith(connectivityEventSchema, value, 'event');
export const parseMigrateEvent = (value: unknown): MigrateEvent =>
  parseWith(migrateEventSchema, value, 'event');
export const parseDeployEvent = (value: unknown): DeployEvent => parseWith(deployEventSchema, value, 'event');
