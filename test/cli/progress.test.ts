import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { formatSummary, ReleaseReporter } from '../../cli/progress/reporter.ts';
import { HistoryTranslator } from '../../cli/release/history.ts';
import { classifyConnectionError } from '../../functions/lib/db/connection.ts';

describe('the release reporter', () => {
  it('on a terminal, draws a spinner line for the running state and replaces it with the result line', () => {
    let output = '';
    const reporter = new ReleaseReporter({ write: (text) => (output += text), tty: true });

    reporter.handle({ type: 'stateEntered', state: 'Migrate', kind: 'Task', at: 1000 });
    reporter.handle({ type: 'stateRetried', state: 'Migrate', at: 1500 });
    reporter.handle({
      type: 'stateExited',
      state: 'Migrate',
      kind: 'Task',
      at: 3400,
      output: {
        migration: {
          applied: ['001-a.ts'],
          pending: [],
          done: true,
          appliedByRun: ['001-a.ts'],
          fromVersion: null,
          toVersion: '001-a.ts',
        },
      },
    });
    reporter.handle({ type: 'executionSucceeded', at: 3500, output: {} });
    const summary = reporter.result();

    expect(output.startsWith('\r\x1b[2K⠋ Migrate ')).toBe(true);
    expect(output).toContain(
      `\r\x1b[2K✓ ${'Migrate'.padEnd(20)} ${'2.4 s'.padStart(8)}  (1 retry)  applied 1: 001-a.ts\n`,
    );
    expect(summary).toMatchObject({ status: 'SUCCEEDED', applied: ['001-a.ts'], durationMs: 2500 });
    expect(formatSummary(summary)).toContain('Release succeeded in 2.5 s.');
  });

  it('says once whom a queued release waits for, from the retries of the AWS history', () => {
    let output = '';
    const reporter = new ReleaseReporter({ write: (text) => (output += text), tty: false });
    const translator = new HistoryTranslator();
    const cause =
      'Waiting for release release-v41 (…:v41, started 2026-11-25T06:00:00.000Z), which holds the turn.';
    const scheduled: HistoryEvent = { type: 'LambdaFunctionScheduled', timestamp: new Date(2_000), id: 2 };
    const failed: HistoryEvent = {
      id: 3,
      type: 'LambdaFunctionFailed',
      timestamp: new Date(2_100),
      lambdaFunctionFailedEventDetails: {
        error: 'ReleaseQueued',
        cause: JSON.stringify({ errorType: 'ReleaseQueued', errorMessage: cause }),
      },
    };
    const history: HistoryEvent[] = [
      {
        id: 1,
        type: 'TaskStateEntered',
        timestamp: new Date(1_000),
        stateEnteredEventDetails: { name: 'CheckConnectivity' },
      },
      scheduled,
      failed,
      scheduled,
      failed,
      scheduled,
    ];

    for (const event of history)
      for (const progress of translator.translate(event)) reporter.handle(progress);

    expect(output).toBe(`→ CheckConnectivity\n… CheckConnectivity waits its turn. ${cause}\n`);
  });

  it('in a log, prints plain lines as each state is entered and left', () => {
    let output = '';
    const reporter = new ReleaseReporter({ write: (text) => (output += text), tty: false });
    reporter.handle({ type: 'stateEntered', state: 'Deploy', kind: 'Task', at: 0 });
    reporter.handle({ type: 'stateFailed', state: 'Deploy', at: 10, error: 'ServiceBusy', cause: 'busy' });

    expect(output).toBe('→ Deploy\n✗ Deploy                  10 ms  ServiceBusy: busy\n');
    expect(output).not.toContain('\x1b');
  });
});

describe('DatabaseUnreachable from a Lambda', () => {
  it('names the subnets and security group to look at', () => {
    const error = classifyConnectionError(
      Object.assign(new Error('connect ETIMEDOUT'), { code: 'CONNECT_TIMEOUT' }),
      'postgres://app@db.internal:5432/buffet',
      'subnets subnet-0a1, subnet-0b2 with security group sg-0123',
    );
    expect(error?.name).toBe('DatabaseUnreachable');
    expect(error?.message).toContain(
      'this function runs in subnets subnet-0a1, subnet-0b2 with security group sg-0123',
    );
  });
});
