import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadDefinition } from '../../cli/local/stateMachine.ts';
import {
  LAMBDA_SERVICE_ERRORS,
  type PipelineFunction,
  ROLLBACK_LEFT_CONSISTENT,
  RUNTIME_ERRORS,
  TASK_CONTRACT,
} from '../../functions/lib/contract/states.ts';
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
  Next?: string;
  Default?: string;
  Error?: string;
  CausePath?: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Choices?: unknown[];
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
}

const definition = await loadDefinition({
  ResolveImageFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-ResolveImage-1A2B3C',
  ConnectivityCheckFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-ConnectivityCheck-1A2B3C',
  MigrateFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-Migrate-1A2B3C',
  DeployFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:mp-Deploy-1A2B3C',
  NotificationTopicArn: 'arn:aws:sns:us-east-2:123456789012:mp-Notifications-1A2B3C',
});
const states = (definition as { States: Record<string, State> }).States;
const lambdaTasks = Object.entries(states).filter(([, state]) =>
  state.Resource?.startsWith('arn:aws:lambda:'),
);

const lint = createRequire(import.meta.url)('@wmfs/statelint') as () => {
  validate(definition: unknown): string[];
};

const functionArn: Record<PipelineFunction, string> = {
  'resolve-image': 'mp-ResolveImage-1A2B3C',
  'connectivity-check': 'mp-ConnectivityCheck-1A2B3C',
  migrate: 'mp-Migrate-1A2B3C',
  deploy: 'mp-Deploy-1A2B3C',
};

/** The error names a state's Retry and Catch list, ours only (not Lambda's service errors). */
const retriedAt = (state: State) =>
  (state.Retry ?? [])
    .flatMap((r) => r.ErrorEquals)
    .filter((name) => !name.startsWith('Lambda.') || name === 'Lambda.Unknown');
const caughtAt = (state: State) => (state.Catch ?? []).flatMap((c) => c.ErrorEquals);

describe('statemachine/pipeline.asl.json', () => {
  it('is valid Amazon States Language, to asl-validator and to statelint', () => {
    const result = validate(structuredClone(definition));
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
    expect(lint().validate(structuredClone(definition))).toEqual([]);
  });

  it('has exactly the Lambda Task states of the contract, each calling its function with its literal fields', () => {
    expect(lambdaTasks.map(([name]) => name).sort()).toEqual(Object.keys(TASK_CONTRACT).sort());
    for (const [name, contract] of Object.entries(TASK_CONTRACT)) {
      const state = states[name] as State;
      expect(state.Resource, name).toContain(functionArn[contract.function]);
      expect(state.Parameters, name).toMatchObject(contract.sends);
    }
  });

  it('sends each function an event its schema accepts, built from the real context fields', () => {
    const context = {
      'Execution.Id': 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:release-v42',
      'Execution.Name': 'release-v42',
      'Execution.StartTime': '2026-11-25T06:00:00.000Z',
      'Execution.Input': {
        image: { uri: '123456789012.dkr.ecr.us-east-2.amazonaws.com/app:v1' },
        source: 'ci',
      },
    };
    const pinned = `123456789012.dkr.ecr.us-east-2.amazonaws.com/app@sha256:${'b'.repeat(64)}`;
    const release = {
      image: { uri: pinned, digest: `sha256:${'b'.repeat(64)}`, tag: 'v1' },
      bundle: { sha256: 'c'.repeat(64), key: `bundles/${'c'.repeat(64)}.tar`, migrations: 3 },
      migrationsPath: '/app/migrations',
    };
    const data: Record<string, unknown> = {
      '$.release': release,
      '$.release.image': release.image,
      '$.release.bundle': release.bundle,
      '$.deployment.operationId': 'op-1',
      '$.deployment.startedAt': '2026-11-25T06:10:00.000Z',
      '$.restore.operationId': 'op-2',
      '$.restore.startedAt': '2026-11-25T06:20:00.000Z',
      '$.preflight.previous': { image: '123456789012.dkr.ecr.us-east-2.amazonaws.com/app:v0' },
    };
    for (const [name, contract] of Object.entries(TASK_CONTRACT)) {
      const parameters = (states[name] as State).Parameters ?? {};
      const event = Object.fromEntries(
        Object.entries(parameters).map(([key, value]) => {
          if (!key.endsWith('.$')) return [key, value];
          const path = String(value);
          const resolved = path.startsWith('$$.')
            ? context[path.slice(3) as keyof typeof context]
            : data[path];
          expect(resolved, `${name} ${key} ${path}`).toBeDefined();
          return [key.slice(0, -2), resolved];
        }),
      );
      const parsed = contract.event.safeParse(event);
      expect(parsed.success ? [] : parsed.error.issues, name).toEqual([]);
    }
  });

  it('retries and catches, per state, exactly the error names of the contract', () => {
    for (const [name, contract] of Object.entries(TASK_CONTRACT)) {
      const state = states[name] as State;
      expect(retriedAt(state).sort(), `${name} retries`).toEqual([...contract.retried].sort());
      expect(caughtAt(state).sort(), `${name} catches`).toEqual([...contract.caught].sort());
      for (const uncaught of contract.leftForRedrive) expect(caughtAt(state), name).not.toContain(uncaught);
    }
  });

  it('retries only retryable names the code throws, and every retryable name somewhere', () => {
    const retried = new Set(lambdaTasks.flatMap(([, state]) => retriedAt(state)));
    expect([...retried].sort()).toEqual([...RETRYABLE_ERROR_NAMES].sort());
    for (const name of retried) expect(Object.values(ErrorName)).toContain(name);
  });

  it("names only errors of the contract, Lambda's runtime errors, or States.ALL", () => {
    const known = new Set<string>([...Object.values(ErrorName), ...RUNTIME_ERRORS, 'States.ALL']);
    for (const [name, state] of lambdaTasks) {
      for (const error of [...retriedAt(state), ...caughtAt(state)]) expect(known, name).toContain(error);
    }
  });

  it('retries the Lambda service errors AWS recommends on every Lambda task, with capped, jittered backoff', () => {
    for (const [name, state] of lambdaTasks) {
      const lambdaRetry = state.Retry?.find((r) => r.ErrorEquals.includes('Lambda.ServiceException'));
      expect(lambdaRetry?.ErrorEquals, name).toEqual([...LAMBDA_SERVICE_ERRORS]);
      for (const retrier of state.Retry ?? []) {
        expect(retrier.MaxDelaySeconds, name).toBeGreaterThan(0);
        expect(retrier.JitterStrategy, name).toBe('FULL');
      }
    }
  });

  it('restores the service before reverting migrations on any failure after the deployment started', () => {
    for (const name of ['Deploy', 'PollDeployment']) {
      expect(states[name]?.Catch, name).toEqual([
        expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'RestoreService' }),
      ]);
    }
    expect(states.Migrate?.Catch?.[0]?.Next).toBe('RollbackMigrations');
    expect(states.RestoreFinished).toMatchObject({ Choices: [{ Next: 'RollbackMigrations' }] });
    for (const name of ['RestoreService', 'PollRestore']) {
      expect(states[name]?.Catch?.[0]?.Next, name).toBe('NotifyRollbackFailed');
    }
  });

  it('ends a rollback that left a consistent schema as a failed release: notified, its turn passed on', () => {
    const catchers = states.RollbackMigrations?.Catch ?? [];
    const target = (name: string) => catchers.find((c) => c.ErrorEquals.includes(name))?.Next;
    for (const name of TASK_CONTRACT.RollbackMigrations.caught) {
      expect(target(name), name).toBe(
        ROLLBACK_LEFT_CONSISTENT.includes(name as ErrorName) ? 'NotifyFailure' : 'NotifyRollbackFailed',
      );
    }
    expect(states.NotifyFailure?.Next).toBe('TookTurn');
    expect(states.EndReleaseFailed?.Parameters).toMatchObject({ outcome: 'failed' });
    expect(states.EndReleaseFailed?.Next).toBe('ForwardOnlyKept');
    expect(states.ForwardOnlyKept).toMatchObject({
      Choices: [{ Next: 'MigrationsIrreversible' }],
      Default: 'ReleaseFailed',
    });
    expect(states.MigrationsIrreversible).toMatchObject({
      Type: 'Fail',
      Error: ErrorName.MigrationsIrreversible,
      CausePath: '$.rollbackError.Cause',
    });
  });

  it('bounds the Migrate loop with a pause and a count', () => {
    expect(states.MigrationsDone).toMatchObject({
      Choices: expect.arrayContaining([
        expect.objectContaining({ Variable: '$.migrateLoop.rounds', Next: 'MigrateLoopExhausted' }),
      ]),
      Default: 'WaitBeforeMigrating',
    });
    expect(states.WaitBeforeMigrating).toMatchObject({ Type: 'Wait', Next: 'CountMigrateRound' });
  });
});
