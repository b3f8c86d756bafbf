import type { HistoryEvent } from '@aws-sdk/client-sfn';

/** GetExecutionHistory events shaped like the real API's (HistoryEvent in the SFN API reference). */

export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-2:123456789012:stateMachine:MigrationPipeline-3XyZ';
export const LAMBDA = (name: string) => `arn:aws:lambda:us-east-2:123456789012:function:mp-${name}-1A2B3C`;

type Step = Omit<HistoryEvent, 'id' | 'timestamp' | 'previousEventId'>;

/** Numbers the events and gives them timestamps 100 ms apart, as the API does (ids from 1). */
export function numbered(steps: Step[], start = new Date('2026-11-24T10:00:00Z')): HistoryEvent[] {
  return steps.map((step, index) => ({
    ...step,
    id: index + 1,
    previousEventId: index,
    timestamp: new Date(start.getTime() + index * 100),
  }));
}

export const lambdaTask = (
  name: string,
  function_: string,
  output: unknown,
  failuresBefore: { error: string; message: string }[] = [],
): Step[] => [
  {
    type: 'TaskStateEntered',
    stateEnteredEventDetails: { name, input: '{}', inputDetails: { truncated: false } },
  },
  ...failuresBefore.flatMap((failure): Step[] => [
    {
      type: 'LambdaFunctionScheduled',
      lambdaFunctionScheduledEventDetails: {
        resource: LAMBDA(function_),
        input: '{}',
        timeoutInSeconds: 900,
      },
    },
    { type: 'LambdaFunctionStarted' },
    {
      type: 'LambdaFunctionFailed',
      lambdaFunctionFailedEventDetails: {
        error: failure.error,
        cause: JSON.stringify({
          errorType: failure.error,
          errorMessage: failure.message,
          trace: [`${failure.error}: ${failure.message}`],
        }),
      },
    },
  ]),
  {
    type: 'LambdaFunctionScheduled',
    lambdaFunctionScheduledEventDetails: { resource: LAMBDA(function_), input: '{}', timeoutInSeconds: 900 },
  },
  { type: 'LambdaFunctionStarted' },
  {
    type: 'LambdaFunctionSucceeded',
    lambdaFunctionSucceededEventDetails: {
      output: JSON.stringify(output),
      outputDetails: { truncated: false },
    },
  },
  {
    type: 'TaskStateExited',
    stateExitedEventDetails: { name, output: JSON.stringify(output), outputDetails: { truncated: false } },
  },
];

/** A task whose last attempt failed: caught (the state exits into the rollback branch) or not. */
export const failingLambdaTask = (
  name: string,
  function_: string,
  failure: { error: string; message: string },
  caughtOutput?: unknown,
): Step[] => [
  { type: 'TaskStateEntered', stateEnteredEventDetails: { name, input: '{}' } },
  {
    type: 'LambdaFunctionScheduled',
    lambdaFunctionScheduledEventDetails: { resource: LAMBDA(function_), input: '{}' },
  },
  { type: 'LambdaFunctionStarted' },
  {
    type: 'LambdaFunctionFailed',
    lambdaFunctionFailedEventDetails: {
      error: failure.error,
      cause: JSON.stringify({ errorType: failure.error, errorMessage: failure.message, trace: [] }),
    },
  },
  ...(caughtOutput === undefined
    ? []
    : [
        {
          type: 'TaskStateExited',
          stateExitedEventDetails: { name, output: JSON.stringify(caughtOutput) },
        } as Step,
      ]),
];

export const choice = (name: string): Step[] => [
  { type: 'ChoiceStateEntered', stateEnteredEventDetails: { name, input: '{}' } },
  { type: 'ChoiceStateExited', stateExitedEventDetails: { name, output: '{}' } },
];

export const snsTask = (name: string): Step[] => [
  { type: 'TaskStateEntered', stateEnteredEventDetails: { name, input: '{}' } },
  {
    type: 'TaskScheduled',
    taskScheduledEventDetails: {
      resourceType: 'sns',
      resource: 'publish',
      region: 'us-east-2',
      parameters: '{}',
    },
  },
  { type: 'TaskStarted', taskStartedEventDetails: { resourceType: 'sns', resource: 'publish' } },
  {
    type: 'TaskSucceeded',
    taskSucceededEventDetails: { resourceType: 'sns', resource: 'publish', output: '{"MessageId":"m-1"}' },
  },
  { type: 'TaskStateExited', stateExitedEventDetails: { name, output: '{}' } },
];

export const connectivityOutput = {
  connectivity: {
    serverVersion: '16.4',
    database: 'buffet',
    user: 'app',
    tls: true,
    connectMs: 180,
    latencyMs: 2,
    connections: 14,
    maxConnections: 410,
    applied: ['001-create-users.ts'],
    pending: ['002-create-accounts.ts', '003-create-categories.ts'],
    image: '123456789012.dkr.ecr.us-east-2.amazonaws.com/better-call-buffet@sha256:4b8e',
    lockFree: true,
    longTransactions: [],
    invalidIndexes: [],
  },
};

export const migrateOutput = {
  migration: {
    applied: ['002-create-accounts.ts', '003-create-categories.ts'],
    pending: [],
    done: true,
    appliedByRun: ['002-create-accounts.ts', '003-create-categories.ts'],
    fromVersion: '001-create-users.ts',
    toVersion: '003-create-categories.ts',
  },
};
