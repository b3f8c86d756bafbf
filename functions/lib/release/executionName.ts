import type { ImageInput } from '../pipeline/events.ts';

/**
 * The execution name for releasing an image: the same image always gives the same name, so a CI job
 * that is re-run attaches to its release instead of starting a second one. Step Functions names are
 * 1-80 characters; we keep to letters, digits, `-` and `_`.
 */
export function releaseExecutionName(image: ImageInput, { suffix }: { suffix?: string } = {}): string {
  const nameAndTag = (image.uri.split('/').at(-1) ?? '').split('@')[0] ?? '';
  const tag = image.tag ?? /:([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(nameAndTag)?.[1];
  const digest = (image.digest ?? /@sha256:([a-f0-9]{64})$/.exec(image.uri)?.[1])?.replace(/^sha256:/, '');
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
