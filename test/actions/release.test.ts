import { rm } from 'node:fs/promises';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_CREDENTIALS_ENV } from '../support/aws.ts';
import { type FakeEndpoint, startFakeAwsEndpoint } from '../support/fakeAwsEndpoint.ts';
import {
  choice,
  connectivityOutput,
  failingLambdaTask,
  lambdaTask,
  migrateOutput,
  numbered,
  STATE_MACHINE_ARN,
  snsTask,
} from '../support/stepFunctions.ts';
import { appWithCli, loadAction, runComposite } from './composite.ts';

const IMAGE = '123456789012.dkr.ecr.us-east-2.amazonaws.com/app:3f2a9c1d4b5e';
const DIGEST = `sha256:${'4b8e'.repeat(16)}`;

const succeeded = numbered([
  { type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}' } },
  ...lambdaTask('CheckConnectivity', 'ConnectivityCheck', connectivityOutput),
  ...lambdaTask('Migrate', 'Migrate', { ...connectivityOutput, ...migrateOutput }),
  ...lambdaTask('Deploy', 'Deploy', { deployment: { alreadyDeployed: true, image: IMAGE } }),
  ...choice('DeploymentStarted'),
  { type: 'PassStateEntered', stateEnteredEventDetails: { name: 'Released', input: '{}' } },
  { type: 'PassStateExited', stateExitedEventDetails: { name: 'Released', output: '{}' } },
  { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } },
]);

const failure = {
  error: 'MigrationFailed',
  message: 'Migration 003-create-categories.ts (up) failed: relation "users" does not exist, SQLSTATE 42P01',
};
const rolledBack = numbered([
  { type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}' } },
  ...lambdaTask('CheckConnectivity', 'ConnectivityCheck', connectivityOutput),
  ...failingLambdaTask('Migrate', 'Migrate', failure, { error: { Error: failure.error, Cause: '...' } }),
  ...lambdaTask('RollbackMigrations', 'Migrate', {
    rollback: {
      reverted: ['002-create-accounts.ts'],
      fromVersion: '002-create-accounts.ts',
      toVersion: '001-create-users.ts',
    },
  }),
  ...snsTask('NotifyFailure'),
  { type: 'FailStateEntered', stateEnteredEventDetails: { name: 'ReleaseFailed', input: '{}' } },
  {
    type: 'ExecutionFailed',
    executionFailedEventDetails: {
      error: failure.error,
      cause: JSON.stringify({ errorType: failure.error, errorMessage: failure.message }),
    },
  },
]);

/** The wire form of the history: timestamps in epoch seconds, as the JSON protocol sends them. */
const onTheWire = (events: HistoryEvent[]) =>
  events.map((event) => ({ ...event, timestamp: (event.timestamp as Date).getTime() / 1000 }));

/** A loopback Step Functions that runs one execution to the end of `history`. */
function stepFunctions(history: HistoryEvent[], status: 'SUCCEEDED' | 'FAILED') {
  let executionArn = '';
  return startFakeAwsEndpoint({
    'AWSStepFunctions.StartExecution': (input) => {
      executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${input.name}`;
      return { body: { executionArn, startDate: 1_767_225_600 } };
    },
    'AWSStepFunctions.GetExecutionHistory': () => ({ body: { events: onTheWire(history) } }),
    'AWSStepFunctions.DescribeExecution': () => ({
      body: { executionArn, stateMachineArn: STATE_MACHINE_ARN, status, startDate: 1_767_225_600 },
    }),
  });
}

/** The job's environment with AWS pointed at loopback only, nothing of this machine's configuration. */
function jobEnvironment(endpoint: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    ...FAKE_CREDENTIALS_ENV,
    AWS_ENDPOINT_URL_SFN: endpoint,
    AWS_ENDPOINT_URL_CLOUDFORMATION: endpoint,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

describe('actions/release/action.yml', () => {
  it('is a composite action: image required, the rest optional and described, steps in bash', async () => {
    const { action } = await loadAction('release');

    expect(action.runs.using).toBe('composite');
    expect(Object.keys(action.inputs)).toEqual([
      'image',
      'digest',
      'stack',
      'state-machine-arn',
      'timeout',
      'working-directory',
    ]);
    expect(action.inputs.image?.required).toBe(true);
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description.length).toBeGreaterThan(10);
      if (name !== 'image') expect(input).toMatchObject({ required: false, default: expect.any(String) });
    }
    for (const step of action.runs.steps) {
      expect(step).toMatchObject({
        shell: 'bash',
        run: expect.stringContaining('migration-pipeline start --wait'),
      });
      expect(step.run).not.toContain(`\${{`);
    }
  });

  describe('run as GitHub runs it, against a loopback Step Functions', () => {
    let app: string;
    let aws: FakeEndpoint | undefined;
    beforeEach(async () => {
      app = await appWithCli();
    });
    afterEach(async () => {
      await aws?.close();
      await rm(app, { recursive: true, force: true });
    });

    it('a release that succeeds: started with the image and digest, a notice, a summary, a passing step', async () => {
      aws = await stepFunctions(succeeded, 'SUCCEEDED');

      const { code, stdout, stderr, summary } = await runComposite('release', {
        inputs: { image: IMAGE, digest: DIGEST, 'state-machine-arn': STATE_MACHINE_ARN, timeout: '2min' },
        workspace: app,
        env: jobEnvironment(aws.url),
      });

      expect(code, stderr).toBe(0);
      const started = aws.calls.find((call) => call.target === 'AWSStepFunctions.StartExecution');
      expect(started?.input).toMatchObject({ stateMachineArn: STATE_MACHINE_ARN });
      expect(JSON.parse(String(started?.input.input))).toMatchObject({
        image: { uri: IMAGE, digest: DIGEST },
        source: expect.any(String),
      });
      expect(stdout).toContain('✓ Migrate');
      expect(stdout).toMatch(/^::notice title=Release succeeded::2 migration\(s\) applied/m);
      expect(summary).toContain('### Release succeeded ✅');
      expect(summary).toContain('| 002-create-accounts.ts | applied |');
      expect(summary).toContain('| 003-create-categories.ts | applied |');
      expect(summary).toContain('[Execution in the Step Functions console](');
    });

    it('a release that was rolled back: an error annotation, the summary says what was reverted, a failed step', async () => {
      aws = await stepFunctions(rolledBack, 'FAILED');

      const { code, stdout, summary } = await runComposite('release', {
        inputs: { image: IMAGE, 'state-machine-arn': STATE_MACHINE_ARN },
        workspace: app,
        env: jobEnvironment(aws.url),
      });

      expect(code).toBe(1);
      expect(stdout).toMatch(/^::error title=Release failed in Migrate::MigrationFailed: /m);
      expect(stdout).toContain('%0AReverted: 002-create-accounts.ts');
      expect(summary).toContain('### Release failed ❌');
      expect(summary).toContain('**MigrationFailed**');
    });

    it('the command line it runs, and a pipeline not named: the CLI says how to name it, and the step fails', async () => {
      aws = await stepFunctions(succeeded, 'SUCCEEDED');

      const { code, stderr, scripts } = await runComposite('release', {
        inputs: { image: IMAGE },
        workspace: app,
        env: jobEnvironment(aws.url),
      });

      expect(scripts).toEqual([
        'npx --no -- migration-pipeline start --wait --image "$RELEASE_IMAGE" --timeout "$RELEASE_TIMEOUT" ' +
          `\${RELEASE_DIGEST:+--digest "$RELEASE_DIGEST"} \${RELEASE_STACK:+--stack "$RELEASE_STACK"} ` +
          `\${RELEASE_STATE_MACHINE_ARN:+--state-machine-arn "$RELEASE_STATE_MACHINE_ARN"}`,
      ]);
      expect(code).toBe(2);
      expect(stderr).toContain(
        'Say which pipeline to start: --state-machine-arn, STATE_MACHINE_ARN, or --stack',
      );
      expect(aws.calls).toEqual([]);
    });
  });
});
