import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { parseDuration } from '../../functions/lib/duration.ts';
import { InvalidInput } from '../../functions/lib/errors.ts';
import { type CliIo, UsageError } from '../io.ts';
import { resolveStateMachineArn } from '../release/locate.ts';

/** Flags of the commands that talk to the deployed pipeline. */
export const PIPELINE_OPTIONS = {
  'state-machine-arn': { type: 'string' },
  stack: { type: 'string' },
  /** Where to look the stack up; the state machine's ARN names its own region. */
  region: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The state machine from the flags, STATE_MACHINE_ARN or the stack's output. */
export function stateMachineArnFrom(
  values: { 'state-machine-arn'?: string; stack?: string; region?: string },
  io: CliIo,
): Promise<string> {
  return resolveStateMachineArn(
    { flag: values['state-machine-arn'], env: io.env, stack: values.stack },
    () => new CloudFormationClient(values.region ? { region: values.region } : {}),
  ).catch((error) => {
    if (error instanceof InvalidInput) throw new UsageError(error.message);
    throw error;
  });
}

/** A Step Functions client in the region of the ARN it will work on. */
export function sfnClientFor(arn: string): SFNClient {
  return new SFNClient({ region: arn.split(':')[3] });
}

export function durationFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value, `--${flag}`);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
