/**
 * What a person watching a release needs from an execution, whether it runs on AWS (read from
 * GetExecutionHistory) or locally (aws-local-stepfunctions' event log): states entered and left,
 * retries, and how the execution ended.
 */
export type StateKind = 'Task' | 'Choice' | 'Wait' | 'Pass' | 'Fail' | 'Succeed' | 'Parallel' | 'Map';

export type ProgressEvent =
  | { type: 'stateEntered'; state: string; kind: StateKind; at: number }
  | { type: 'stateExited'; state: string; kind: StateKind; at: number; output: unknown }
  | { type: 'stateRetried'; state: string; at: number; error?: string }
  | { type: 'stateFailed'; state: string; at: number; error: string; cause: string }
  | { type: 'executionSucceeded'; at: number; output: unknown }
  | { type: 'executionFailed'; at: number; error: string; cause: string };

interface LocalStateData {
  name: string;
  type: string;
  output?: unknown;
}

/** Translates one aws-local-stepfunctions event; events of no interest give undefined. */
export function fromLocalEvent(
  event: { type: string; timestamp: number } & Record<string, unknown>,
): ProgressEvent | undefined {
  const state = event.state as LocalStateData | undefined;
  const at = event.timestamp;
  switch (event.type) {
    case 'StateEntered':
      return state && { type: 'stateEntered', state: state.name, kind: state.type as StateKind, at };
    case 'StateExited':
      return (
        state && {
          type: 'stateExited',
          state: state.name,
          kind: state.type as StateKind,
          at,
          output: state.output,
        }
      );
    case 'StateRetried':
      return state && { type: 'stateRetried', state: state.name, at };
    case 'StateFailed':
      return (
        state && {
          type: 'stateFailed',
          state: state.name,
          at,
          error: String(event.Error),
          cause: String(event.Cause ?? ''),
        }
      );
    case 'ExecutionSucceeded':
      return { type: 'executionSucceeded', at, output: event.output };
    case 'ExecutionFailed':
      return { type: 'executionFailed', at, error: String(event.Error), cause: String(event.Cause ?? '') };
    default:
      return undefined;
  }
}
