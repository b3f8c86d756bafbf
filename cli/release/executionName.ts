import type { ImageInput } from '../../functions/lib/contract/events.ts';
import { parseImageReference } from '../../functions/lib/deploy/image.ts';

/**
 * The execution name for releasing an image: the same image always gives the same name, so a CI job
 * that is re-run attaches to its release instead of starting a second one. Step Functions names are
 * 1-80 characters; we keep to letters, digits, `-` and `_`.
 */
export function releaseExecutionName(image: ImageInput, { suffix }: { suffix?: string } = {}): string {
  const reference = parseImageReference(image.uri);
  const tag = image.tag ?? reference?.tag;
  const digest = (image.digest ?? reference?.digest)?.replace(/^sha256:/, '');
  const parts = ['release', tag, digest?.slice(0, 12), suffix].filter(Boolean) as string[];
  return parts
    .join('-')
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .slice(0, 80);
}

/** Step Functions builds an execution's ARN from its state machine's and its name. */
export function executionArnFor(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** The console page of an execution. */
export function consoleUrlFor(executionArn: string): string {
  const region = executionArn.split(':')[3] ?? 'us-east-1';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}
