import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type ExecutionStatus,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { PipelineInput } from '../../functions/lib/contract/events.ts';
import { InvalidInput } from '../../functions/lib/errors.ts';
import type { Clock } from '../../functions/lib/runtime.ts';
import { executionArnFor } from './executionName.ts';
import { HistoryTranslator, readHistorySince } from './history.ts';
import type { ProgressEvent } from './progressEvents.ts';

export interface StartedRelease {
  executionArn: string;
  /** True when an execution of that name existed: a re-run CI job follows it instead of releasing twice. */
  attached: boolean;
  status: ExecutionStatus | undefined;
}

/**
 * Starts the release under its deterministic name. Step Functions refuses a name already used
 * (`ExecutionAlreadyExists`, unless the same input is still running); then this attaches to that
 * execution instead of failing.
 */
export async function startRelease(
  sfn: SFNClient,
  { stateMachineArn, name, input }: { stateMachineArn: string; name: string; input: PipelineInput },
): Promise<StartedRelease> {
  try {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    return { executionArn: executionArn as string, attached: false, status: 'RUNNING' };
  } catch (error) {
    if ((error as Error).name !== 'ExecutionAlreadyExists') throw error;
    const executionArn = executionArnFor(stateMachineArn, name);
    const existing = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    // Attach only to the same release: a tag pushed again for another image has the same name.
    if (existing.input !== undefined && !sameJson(existing.input, input)) {
      throw new InvalidInput(
        `An execution named ${name} already exists for another input (${existing.input.slice(0, 300)}): was the tag reused for another image? ` +
          'Give the digest (--digest), or start a fresh execution with --new.',
        { field: 'image' },
      );
    }
    return { executionArn, attached: true, status: existing.status };
  }
}

function sameJson(text: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

export interface FollowResult {
  /** The execution's status when following stopped (RUNNING when the wait timed out). */
  status: ExecutionStatus | 'RUNNING';
  timedOut: boolean;
}

/**
 * Follows an execution until it ends or `timeoutMs` passes, handing each progress event to `onEvent`
 * in order. Polls GetExecutionHistory; a redriven execution is followed through its new attempt.
 */
export async function followExecution(
  sfn: SFNClient,
  executionArn: string,
  {
    onEvent,
    pollMs,
    timeoutMs,
    clock,
  }: { onEvent: (event: ProgressEvent) => void; pollMs: number; timeoutMs: number; clock: Clock },
): Promise<FollowResult> {
  const translator = new HistoryTranslator();
  const deadline = clock.now() + timeoutMs;
  let lastId = 0;
  for (;;) {
    for (const event of await readHistorySince(sfn, executionArn, lastId)) {
      lastId = event.id ?? lastId;
      for (const progress of translator.translate(event)) onEvent(progress);
    }
    if (translator.finished) {
      const described: DescribeExecutionCommandOutput = await sfn.send(
        new DescribeExecutionCommand({ executionArn }),
      );
      // The history may end in failure while a redrive has already begun: trust the execution's status.
      if (described.status !== 'RUNNING')
        return { status: described.status ?? translator.finished, timedOut: false };
    }
    if (clock.now() >= deadline) return { status: 'RUNNING', timedOut: true };
    await clock.sleep(Math.min(pollMs, Math.max(0, deadline - clock.now())));
  }
}
