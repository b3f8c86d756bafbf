/**
 * What a person watching a release needs from an execution, whether it runs on AWS (read from
 * GetExecutionHistory) or locally (aws-local-stepfunctions' event log): states entered and left,
 * retries, and how the execution ended.
 */
export type StateKind = 'Task' | 'Choice' | 'Wait' | 'Pass' | 'Fail' | 'Succeed' | 'Parallel' | 'Map';

export type ProgressEvent =
  | { type: 'stateEntered'; state: string; kind: StateKind; at: number }
  | { type: 'stateExited'; state: string; kind: StateKind; at: number; output: unknown }
  /** A task attempt failed and is retried; `error` and `cause` say why (e.g. whom a queued release waits for). */
  | { type: 'stateRetried'; state: string; at: number; error?: string; cause?: string }
  | { type: 'stateFailed'; state: string; at: number; error: string; cause: string }
  | { type: 'executionSucceeded'; at: number; output: unknown }
  | { type: 'executionFailed'; at: number; error: string; cause: string };
