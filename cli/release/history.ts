import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import type { ProgressEvent, StateKind } from './progressEvents.ts';

/** All events of an execution after `afterId`, oldest first, across GetExecutionHistory pages. */
export async function readHistorySince(
  sfn: SFNClient,
  executionArn: string,
  afterId: number,
): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        maxResults: 1000,
        nextToken,
        includeExecutionData: true,
      }),
    );
    for (const event of page.events ?? []) if ((event.id ?? 0) > afterId) events.push(event);
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

const STATE_ENTERED = /^(Task|Choice|Wait|Pass|Fail|Succeed|Parallel|Map)StateEntered$/;
const STATE_EXITED = /^(Task|Choice|Wait|Pass|Succeed|Parallel|Map)StateExited$/;

/**
 * Reads Step Functions history events as progress: states entered and left, retries (a task scheduled
 * again within the same state), a caught task failure (the state exits after its last attempt failed),
 * and how the execution ended. Keeps what it needs between polls.
 */
export class HistoryTranslator {
  private currentTask:
    | { name: string; attempts: number; lastFailure?: { error: string; cause: string } }
    | undefined;
  /** Set once the execution reached a terminal event; cleared again by a redrive. */
  finished: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | undefined;

  translate(event: HistoryEvent): ProgressEvent[] {
    const at = event.timestamp ? new Date(event.timestamp).getTime() : Date.now();
    const type = event.type ?? '';
    const entered = STATE_ENTERED.exec(type);
    if (entered) {
      const name = event.stateEnteredEventDetails?.name ?? '?';
      const kind = entered[1] as StateKind;
      this.currentTask = kind === 'Task' ? { name, attempts: 0 } : undefined;
      return [{ type: 'stateEntered', state: name, kind, at }];
    }
    const exited = STATE_EXITED.exec(type);
    if (exited) {
      const name = event.stateExitedEventDetails?.name ?? '?';
      const failure = this.currentTask?.name === name ? this.currentTask.lastFailure : undefined;
      this.currentTask = undefined;
      if (failure) return [{ type: 'stateFailed', state: name, at, ...failure }];
      return [
        {
          type: 'stateExited',
          state: name,
          kind: exited[1] as StateKind,
          at,
          output: parseJson(event.stateExitedEventDetails?.output),
        },
      ];
    }
    switch (type) {
      case 'LambdaFunctionScheduled':
      case 'TaskScheduled': {
        const task = this.currentTask;
        if (!task) return [];
        task.attempts++;
        const failure = task.lastFailure;
        task.lastFailure = undefined;
        return task.attempts > 1 ? [{ type: 'stateRetried', state: task.name, at, ...failure }] : [];
      }
      case 'LambdaFunctionFailed':
      case 'LambdaFunctionTimedOut':
      case 'LambdaFunctionStartFailed':
      case 'LambdaFunctionScheduleFailed':
      case 'TaskFailed':
      case 'TaskTimedOut':
      case 'TaskStartFailed':
      case 'TaskSubmitFailed': {
        const details = (event.lambdaFunctionFailedEventDetails ??
          event.lambdaFunctionTimedOutEventDetails ??
          event.lambdaFunctionStartFailedEventDetails ??
          event.lambdaFunctionScheduleFailedEventDetails ??
          event.taskFailedEventDetails ??
          event.taskTimedOutEventDetails ??
          event.taskStartFailedEventDetails ??
          event.taskSubmitFailedEventDetails) as { error?: string; cause?: string } | undefined;
        if (this.currentTask) {
          this.currentTask.lastFailure = {
            error: details?.error ?? type,
            cause: lambdaCause(details?.cause),
          };
        }
        return [];
      }
      case 'ExecutionSucceeded':
        this.finished = 'SUCCEEDED';
        return [
          { type: 'executionSucceeded', at, output: parseJson(event.executionSucceededEventDetails?.output) },
        ];
      case 'ExecutionFailed': {
        this.finished = 'FAILED';
        const failed = this.failTask(at);
        const details = event.executionFailedEventDetails;
        return [
          ...failed,
          {
            type: 'executionFailed',
            at,
            error: details?.error ?? 'States.Failed',
            cause: lambdaCause(details?.cause),
          },
        ];
      }
      case 'ExecutionTimedOut':
        this.finished = 'TIMED_OUT';
        return [
          ...this.failTask(at),
          {
            type: 'executionFailed',
            at,
            error: 'States.Timeout',
            cause: 'The execution ran past its TimeoutSeconds.',
          },
        ];
      case 'ExecutionAborted':
        this.finished = 'ABORTED';
        return [
          ...this.failTask(at),
          { type: 'executionFailed', at, error: 'ExecutionAborted', cause: 'Someone stopped the execution.' },
        ];
      case 'ExecutionRedriven':
        this.finished = undefined;
        return [];
      default:
        return [];
    }
  }

  /** An uncaught task failure ends the execution without the state ever exiting. */
  private failTask(at: number): ProgressEvent[] {
    const task = this.currentTask;
    this.currentTask = undefined;
    return task?.lastFailure ? [{ type: 'stateFailed', state: task.name, at, ...task.lastFailure }] : [];
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A Lambda failure's cause is a JSON document (errorType, errorMessage, trace): keep the message. */
function lambdaCause(cause: string | undefined): string {
  if (!cause) return '';
  const parsed = parseJson(cause) as { errorMessage?: unknown } | string;
  return typeof parsed === 'object' && parsed && typeof parsed.errorMessage === 'string'
    ? parsed.errorMessage
    : cause;
}
