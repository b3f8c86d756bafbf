import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvalidInput } from '../../functions/lib/errors.ts';

export const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

/**
 * The state machine to start: `--state-machine-arn`, else STATE_MACHINE_ARN, else the `StateMachineArn`
 * output of the SAM stack named by `--stack`.
 */
export async function resolveStateMachineArn(
  { flag, env, stack }: { flag?: string; env: Record<string, string | undefined>; stack?: string },
  cloudFormation: () => CloudFormationClient,
): Promise<string> {
  const given = flag ?? env.STATE_MACHINE_ARN;
  if (given) {
    if (!STATE_MACHINE_ARN.test(given)) {
      throw new InvalidInput(
        `"${given.slice(0, 200)}" is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>).`,
        {
          field: 'state-machine-arn',
        },
      );
    }
    return given;
  }
  if (!stack) {
    throw new InvalidInput(
      'Say which pipeline to start: --state-machine-arn, STATE_MACHINE_ARN, or --stack <SAM stack name>.',
      {
        field: 'state-machine-arn',
      },
    );
  }
  const { Stacks } = await cloudFormation().send(new DescribeStacksCommand({ StackName: stack }));
  const arn = Stacks?.[0]?.Outputs?.find((output) => output.OutputKey === 'StateMachineArn')?.OutputValue;
  if (!arn) {
    throw new InvalidInput(
      `Stack ${stack} has no StateMachineArn output: is it the migration-pipeline stack?`,
      { field: 'stack' },
    );
  }
  return arn;
}
