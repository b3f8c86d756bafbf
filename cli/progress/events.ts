import type { ProgressEvent, StateKind } from '../release/progressEvents.ts';

interface LocalStateData {
  name: string;
  type: string;
  output?: unknown;
}

/**
 * Translates one aws-local-stepfunctions event; events of no interest give undefined. Its retry
 * events carry no error, so `lastFailure` tells what the state's last attempt failed with.
 */
function fromLocalEvent(
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

/**
 * Translates aws-local-stepfunctions' event log into progress. The library logs StateFailed for
 * every failed attempt, also for one its Retry then retries; so a failure is held back until the
 * next event says which it was: a retry (StateRetried follows) or the state's failure.
 */
export class LocalEventTranslator {
  private heldFailure: Extract<ProgressEvent, { type: 'stateFailed' }> | undefined;
  private readonly lastFailure: (state: string) => { error: string; cause: string } | undefined;

  constructor(lastFailure: (state: string) => { error: string; cause: string } | undefined) {
    this.lastFailure = lastFailure;
  }

  translate(event: { type: string; timestamp: number } & Record<string, unknown>): ProgressEvent[] {
    const held = this.heldFailure;
    this.heldFailure = undefined;
    const progress = fromLocalEvent(event, this.lastFailure);
    if (progress?.type === 'stateFailed') {
      this.heldFailure = progress;
      return held ? [held] : [];
    }
    const retried = progress?.type === 'stateRetried' && progress.state === held?.state;
    return [...(held && !retried ? [held] : []), ...(progress ? [progress] : [])];
  }
}
