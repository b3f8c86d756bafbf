import { InvalidInput } from '../errors.ts';
import { objectAt, optionalBooleanAt, optionalStringAt, stringAt } from './validate.ts';

/** What starts a release: the image to deploy, who asked, and whether to change anything. */
export interface PipelineInput {
  image: ImageInput;
  /** Who started it: "ci", "console", "ecr-push", a person's name... shown in logs and notifications. */
  source: string;
  /** Check connectivity and report the plan; apply and deploy nothing. */
  dryRun?: boolean;
}

export interface ImageInput {
  uri: string;
  digest?: string;
  tag?: string;
}

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const IMAGE_URI = /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+(?::[A-Za-z0-9_.-]{1,128}|@sha256:[a-f0-9]{64})?$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// The migrate function's run id is always its execution's ARN ($$.Execution.Id).
const RUN_ID = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$/;
// An App Runner operation id (a UUID) or an ECS deployment id (ecs-svc/1234567890123456789).
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const OPERATION_ID = /^[A-Za-z0-9/_-]{1,128}$/;

export function parsePipelineInput(value: unknown, field = 'input'): PipelineInput {
  const input = objectAt(value, field, ['image', 'source', 'dryRun']);
  const image = objectAt(input.image, `${field}.image`, ['uri', 'digest', 'tag']);
  const uri = stringAt(image, 'uri', `${field}.image`, {
    pattern: IMAGE_URI,
    maxLength: 512,
    what: 'an image URI like 123456789012.dkr.ecr.us-east-2.amazonaws.com/app:tag or ...@sha256:<digest>',
  });
  const digest = optionalStringAt(image, 'digest', `${field}.image`, {
    pattern: DIGEST,
    what: 'sha256:<64 hex digits>',
  });
  const tag = optionalStringAt(image, 'tag', `${field}.image`, { pattern: TAG, what: 'a Docker tag' });
  const source = stringAt(input, 'source', field, { maxLength: 128 });
  const dryRun = optionalBooleanAt(input, 'dryRun', field);
  return {
    image: { uri, ...(digest ? { digest } : {}), ...(tag ? { tag } : {}) },
    source,
    ...(dryRun !== undefined ? { dryRun } : {}),
  };
}

/** The connectivity check's event: the pipeline input, and the execution for log correlation. */
export interface ConnectivityEvent {
  executionName?: string;
  input: PipelineInput;
}

export function parseConnectivityEvent(value: unknown): ConnectivityEvent {
  const event = objectAt(value, 'event', ['executionName', 'input']);
  return { ...executionNameOf(event), input: parsePipelineInput(event.input, 'event.input') };
}

export type MigrateEvent =
  | { action: 'up'; runId: string; executionName?: string }
  | { action: 'rollback'; runId: string; executionName?: string };

export function parseMigrateEvent(value: unknown): MigrateEvent {
  const event = objectAt(value, 'event', ['action', 'runId', 'executionName']);
  const action = stringAt(event, 'action', 'event', {
    pattern: /^(up|rollback)$/,
    what: '"up" or "rollback"',
  }) as 'up' | 'rollback';
  const runId = stringAt(event, 'runId', 'event', {
    pattern: RUN_ID,
    what: "the execution's ARN ($$.Execution.Id)",
  });
  return { action, runId, ...executionNameOf(event) };
}

export type DeployEvent =
  | { action: 'start'; image: ImageInput; executionName?: string }
  | { action: 'status'; operationId: string; startedAt?: string; executionName?: string };

export function parseDeployEvent(value: unknown): DeployEvent {
  const event = objectAt(value, 'event', ['action', 'image', 'operationId', 'startedAt', 'executionName']);
  const action = stringAt(event, 'action', 'event', {
    pattern: /^(start|status)$/,
    what: '"start" or "status"',
  });
  if (action === 'start') {
    if (event.operationId !== undefined)
      throw new InvalidInput('event.operationId belongs to action "status".', { field: 'event.operationId' });
    const { image } = parsePipelineInput({ image: event.image, source: 'deploy' }, 'event');
    return { action, image, ...executionNameOf(event) };
  }
  if (event.image !== undefined)
    throw new InvalidInput('event.image belongs to action "start".', { field: 'event.image' });
  const startedAt = optionalStringAt(event, 'startedAt', 'event', {
    pattern: ISO_TIME,
    what: 'an ISO 8601 UTC time like 2026-11-25T06:00:00.000Z',
  });
  return {
    action: 'status',
    operationId: stringAt(event, 'operationId', 'event', {
      pattern: OPERATION_ID,
      what: 'an App Runner operation id',
    }),
    ...(startedAt ? { startedAt } : {}),
    ...executionNameOf(event),
  };
}

function executionNameOf(event: Record<string, unknown>): { executionName?: string } {
  const name = optionalStringAt(event, 'executionName', 'event', {
    pattern: EXECUTION_NAME,
    what: 'a Step Functions execution name',
  });
  return name ? { executionName: name } : {};
}
