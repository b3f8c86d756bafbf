import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { InvalidInput } from '../../functions/lib/errors.ts';
import { executionArnFor } from './executionName.ts';
import { HistoryTranslator, readHistorySince } from './history.ts';
import type { ProgressEvent } from './progressEvents.ts';

export interface ReleaseListing {
  name: string;
  executionArn: string;
  status: ExecutionStatus | undefined;
  startDate?: string;
  stopDate?: string;
  redriveCount?: number;
}

/** The most recent executions of the pipeline, newest first. */
export async function listReleases(
  sfn: SFNClient,
  stateMachineArn: string,
  maxResults = 10,
): Promise<ReleaseListing[]> {
  const { executions } = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults }));
  return (executions ?? []).map((execution) => ({
    name: execution.name ?? '',
    executionArn: execution.executionArn ?? '',
    status: execution.status,
    ...(execution.startDate ? { startDate: execution.startDate.toISOString() } : {}),
    ...(execution.stopDate ? { stopDate: execution.stopDate.toISOString() } : {}),
    ...(execution.redriveCount ? { redriveCount: execution.redriveCount } : {}),
  }));
}

/** An execution given by ARN, or by name under the state machine. */
export function executionArnOf(execution: string, stateMachineArn: string | undefined): string {
  if (execution.startsWith('arn:')) return execution;
  if (!stateMachineArn) {
    throw new InvalidInput(
      `Give the execution's ARN, or the state machine (--state-machine-arn, STATE_MACHINE_ARN or --stack) with its name.`,
      {
        field: 'execution',
      },
    );
  }
  return executionArnFor(stateMachineArn, execution);
}

/** Replays a whole execution's history as progress events, for `status <execution>`. */
export async function replayExecution(
  sfn: SFNClient,
  executionArn: string,
  onEvent: (event: ProgressEvent) => void,
): Promise<ExecutionStatus | undefined> {
  const translator = new HistoryTranslator();
  for (const event of await readHistorySince(sfn, executionArn, 0)) {
    for (const progress of translator.translate(event)) onEvent(progress);
  }
  return (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status;
}

/**
 * Redrives a failed, timed-out or aborted execution from the state that failed (Step Functions'
 * RedriveExecution): the migrations it applied are in its run id, so its rollback stays exact.
 */
export async function redriveRelease(sfn: SFNClient, executionArn: string): Promise<{ redriveDate: string }> {
  try {
    const { redriveDate } = await sfn.send(new RedriveExecutionCommand({ executionArn }));
    return { redriveDate: (redriveDate ?? new Date()).toISOString() };
  } catch (error) {
    if ((error as Error).name === 'ExecutionNotRedrivable') {
      throw new InvalidInput(
        `Execution ${executionArn} cannot be redriven: ${(error as Error).message} ` +
          '(only a FAILED, TIMED_OUT or ABORTED execution of the last 14 days can be). Start a new release with --new instead.',
        { field: 'execution' },
        { cause: error },
      );
    }
    throw error;
  }
}
