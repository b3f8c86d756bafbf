import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadDefinition } from '../../cli/local/stateMachine.ts';
import { ErrorName, RETRYABLE_ERROR_NAMES } from '../../functions/lib/errors.ts';

const validate = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => {
  isValid: boolean;
  errorsText(separator?: string): string;
};

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface State {
  Type: string;
  Resource?: string;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
}

const definition = await loadDefinition({
  ConnectivityCheckFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-ConnectivityCheck-1A2B3C',
  MigrateFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-Migrate-1A2B3C',
  DeployFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-Deploy-1A2B3C',
  NotificationTopicArn: 'arn:aws:sns:us-east-2:123456789012:mp-Notifications-1A2B3C',
});
const states = (definition as { States: Record<string, State> }).States;
const lambdaTasks = Object.entries(states).filter(([, state]) =>
  state.Resource?.startsWith('arn:aws:lambda:'),
);
// AWS's recommended retrier (Step Functions best practices), plus throttling.
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

describe('statemachine/pipeline.asl.json', () => {
  it('is valid Amazon States Language', () => {
    const result = validate(structuredClone(definition));
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('retries exactly the retryable error names, and only names the code throws', () => {
    const retried = new Set(
      Object.values(states).flatMap((state) => (state.Retry ?? []).flatMap((r) => r.ErrorEquals)),
    );
    const ours = [...retried].filter((name) => !name.startsWith('Lambda.') && !name.startsWith('States.'));

    expect(ours.sort()).toEqual([...RETRYABLE_ERROR_NAMES].sort());
    for (const name of ours) expect(Object.values(ErrorName)).toContain(name);
  });

  it('retries the Lambda service errors AWS recommends on every Lambda task, with capped, jittered backoff', () => {
    for (const [name, state] of lambdaTasks) {
      const lambdaRetry = state.Retry?.find((r) => r.ErrorEquals.includes('Lambda.ServiceException'));
      expect(lambdaRetry?.ErrorEquals, name).toEqual(LAMBDA_SERVICE_ERRORS);
      for (const retrier of state.Retry ?? []) {
        expect(retrier.MaxDelaySeconds, name).toBeGreaterThan(0);
        expect(retrier.JitterStrategy, name).toBe('FULL');
      }
    }
  });

  it('sends every failure after the schema may have changed to the rollback branch, and none before', () => {
    for (const name of ['Migrate', 'Deploy', 'PollDeployment']) {
      expect(states[name]?.Catch).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'RollbackMigrations' }),
      ]);
    }
    expect(states.CheckConnectivity?.Catch?.[0]?.Next).toBe('NotifyFailure');
    expect(states.RollbackMigrations?.Catch?.[0]?.Next).toBe('NotifyRollbackFailed');
  });

  it('leaves the retryable failures of CheckConnectivity and RollbackMigrations uncaught, so a redrive resumes them', () => {
    for (const state of ['CheckConnectivity', 'RollbackMigrations']) {
      const caught = (states[state]?.Catch ?? []).flatMap((c) => c.ErrorEquals);
      expect(caught, state).not.toContain('States.ALL');
      for (const name of RETRYABLE_ERROR_NAMES) expect(caught, `${state} ${name}`).not.toContain(name);
      expect(caught, state).toEqual(
        expect.arrayContaining(['ConfigurationInvalid', 'AuthenticationFailed', 'MigrationDrift']),
      );
    }
    expect(states.CheckConnectivity?.Catch?.[0]?.ErrorEquals).toContain('InvalidInput');
    expect(states.RollbackMigrations?.Catch?.[0]?.ErrorEquals).toContain('RollbackFailed');
  });

  it('retries what waiting can fix where it can happen', () => {
    const retriedAt = (state: string) => (states[state]?.Retry ?? []).flatMap((r) => r.ErrorEquals);
    expect(retriedAt('CheckConnectivity')).toEqual(
      expect.arrayContaining(['DatabaseUnreachable', 'SecretsUnreachable']),
    );
    expect(retriedAt('Migrate')).toEqual(
      expect.arrayContaining(['MigrationLockBusy', 'LockTimeout', 'DatabaseUnreachable']),
    );
    expect(retriedAt('RollbackMigrations')).toEqual(
      expect.arrayContaining(['MigrationLockBusy', 'LockTimeout', 'DatabaseUnreachable']),
    );
    expect(retriedAt('Deploy')).toContain('ServiceBusy');
  });
});
