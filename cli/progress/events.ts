import type { ProgressEvent, StateKind } from '../../functions/lib/release/progressEvents.ts';

interface LocalStateData {
  name: string;
  type: string;
  output?: unknown;
}

/**
 * Translates one aws-local-stepfunctions event; events of no interest give undefined. Its retry
 * events carry no error, so `lastFailure` tells what the state's last attempt failed with.
 */
export function fromLocalEvent(
  event: { type: string; timestamp: number } & Record<string, unknown>,
  lastFailure: (state: string) => { error: string; cause: string } | undefined = () => undefined,
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
      return state && { type: 'stateRetried', state: state.name, at, ...lastFailure(state.name) };
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
