import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { releaseExecutionName } from '../../cli/release/executionName.ts';
import { runCli } from '../support/cli.ts';
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

const sfn = mockClient(SFNClient);
const cloudFormation = mockClient(CloudFormationClient);

const IMAGE =
  '123456789012.dkr.ecr.us-east-2.amazonaws.com/better-call-buffet@sha256:4b8e4c0d5a1f3e2b9c7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d';
const NAME = 'release-v42-4b8e4c0d5a1f';
const EXECUTION_ARN = `arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:${NAME}`;

const succeeded = numbered([
  {
    type: 'ExecutionStarted',
    executionStartedEventDetails: { input: '{}', roleArn: 'arn:aws:iam::123456789012:role/sfn' },
  },
  ...lambdaTask('CheckConnectivity', 'ConnectivityCheck', connectivityOutput),
  ...choice('IsDryRun'),
  ...lambdaTask('Migrate', 'Migrate', { ...connectivityOutput, ...migrateOutput }, [
    { error: 'MigrationLockBusy', message: 'Another migration run holds the migration lock' },
  ]),
  ...choice('MigrationsDone'),
  ...lambdaTask('Deploy', 'Deploy', { deployment: { alreadyDeployed: true, image: 'x@sha256:4b8e' } }),
  ...choice('DeploymentStarted'),
  { type: 'PassStateEntered', stateEnteredEventDetails: { name: 'Released', input: '{}' } },
  { type: 'PassStateExited', stateExitedEventDetails: { name: 'Released', output: '{}' } },
  { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } },
]);

const failed = numbered([
  { type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}' } },
  ...lambdaTask('CheckConnectivity', 'ConnectivityCheck', connectivityOutput),
  ...choice('IsDryRun'),
  ...failingLambdaTask(
    'Migrate',
    'Migrate',
    {
      error: 'MigrationFailed',
      message:
        'Migration 003-create-categories.ts (up) failed: relation "users" does not exist, SQLSTATE 42P01',
    },
    { error: { Error: 'MigrationFailed', Cause: '...' } },
  ),
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
      error: 'MigrationFailed',
      cause: JSON.stringify({
        errorType: 'MigrationFailed',
        errorMessage:
          'Migration 003-create-categories.ts (up) failed: relation "users" does not exist, SQLSTATE 42P01',
      }),
    },
  },
]);

/** Serves the history in pages of `pageSize`, revealing `visible(poll)` events on each poll. */
function serveHistory(
  events: HistoryEvent[],
  { pageSize = 10, visible = (_poll: number) => events.length } = {},
) {
  let poll = 0;
  sfn.on(GetExecutionHistoryCommand).callsFake((input: { nextToken?: string }) => {
    if (!input.nextToken) poll++;
    const shown = events.slice(0, visible(poll));
    const start = Number(input.nextToken ?? 0);
    const page = shown.slice(start, start + pageSize);
    return {
      events: page,
      ...(start + pageSize < shown.length ? { nextToken: String(start + pageSize) } : {}),
    };
  });
}

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { env: { STATE_MACHINE_ARN, ...env }, cwd: process.cwd() });

describe('migration-pipeline start', () => {
  beforeEach(() => {
    sfn.reset();
    cloudFormation.reset();
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: new Date() });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      name: NAME,
      status: 'SUCCEEDED',
      stateMachineArn: STATE_MACHINE_ARN,
      startDate: new Date(),
    });
  });

  it('names the execution after the image, so a re-run CI job starts no second release', async () => {
    serveHistory(succeeded);

    await cli(['start', '--image', IMAGE, '--tag', 'v42']);

    const started = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(started).toMatchObject({ stateMachineArn: STATE_MACHINE_ARN, name: NAME });
    expect(JSON.parse(started?.input ?? '')).toEqual({
      image: { uri: IMAGE, tag: 'v42' },
      source: expect.any(String),
    });
  });

  it('--wait prints each state as it runs (duration, retries, migrations) across history pages and polls, then the table', async () => {
    serveHistory(succeeded, { pageSize: 7, visible: (poll) => (poll === 1 ? 12 : succeeded.length) });

    const { code, stdout } = await cli([
      'start',
      '--image',
      IMAGE,
      '--tag',
      'v42',
      '--wait',
      '--poll',
      '10ms',
    ]);

    expect(code).toBe(0);
    expect(stdout).toContain(`Started ${NAME}`);
    expect(stdout).toContain(
      `https://us-east-2.console.aws.amazon.com/states/home?region=us-east-2#/v2/executions/details/${EXECUTION_ARN}`,
    );
    expect(stdout).toMatch(/✓ CheckConnectivity +\d+ ms +PostgreSQL 16\.4, 2 pending, lock free/);
    expect(stdout).toMatch(
      /✓ Migrate +\d+ ms +\(1 retry\) +applied 2: 002-create-accounts\.ts, 003-create-categories\.ts/,
    );
    expect(stdout).toMatch(/✓ Deploy .* already running/);
    expect(stdout).not.toContain('IsDryRun');
    expect(stdout).toContain('Release succeeded');
    expect(stdout).toMatch(/002-create-accounts\.ts +applied\n +003-create-categories\.ts +applied/);
  });

  it('attaches to the execution of the same name instead of failing, and reports its result', async () => {
    sfn.on(StartExecutionCommand).rejects(
      Object.assign(new Error(`Execution Already Exists: '${EXECUTION_ARN}'`), {
        name: 'ExecutionAlreadyExists',
      }),
    );
    serveHistory(succeeded);

    const { code, stdout } = await cli([
      'start',
      '--image',
      IMAGE,
      '--tag',
      'v42',
      '--wait',
      '--poll',
      '10ms',
    ]);

    expect(code).toBe(0);
    expect(stdout).toContain(`Attached to ${NAME}, which already exists for this image (status SUCCEEDED)`);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: EXECUTION_ARN,
    });
  });

  it('refuses to attach to an execution of the same name that released another input', async () => {
    sfn.on(StartExecutionCommand).rejects(
      Object.assign(new Error(`Execution Already Exists: '${EXECUTION_ARN}'`), {
        name: 'ExecutionAlreadyExists',
      }),
    );
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      status: 'SUCCEEDED',
      input: JSON.stringify({ image: { uri: IMAGE.replace('4b8e', '9999'), tag: 'v42' }, source: 'ci' }),
    });

    const { code, stderr } = await cli([
      'start',
      '--image',
      IMAGE,
      '--tag',
      'v42',
      '--source',
      'ci',
      '--wait',
    ]);

    expect(code).toBe(1);
    expect(stderr).toContain('already exists for another input');
    expect(stderr).toContain('--new');
  });

  it('gives a dry run a name of its own, so a later release does not attach to it', async () => {
    serveHistory(succeeded);

    await cli(['start', '--image', IMAGE, '--tag', 'v42', '--dry-run']);

    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.name).toMatch(
      /^release-v42-4b8e4c0d5a1f-dryrun-\d{14}$/,
    );
  });

  it('exits 1 on a failed release, printing the failing state, the error name, the cause and the console link', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: 'FAILED' });
    serveHistory(failed);

    const { code, stdout } = await cli(['start', '--image', IMAGE, '--wait', '--poll', '10ms']);

    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ Migrate .* MigrationFailed: Migration 003-create-categories\.ts \(up\) failed/);
    expect(stdout).toMatch(/✓ RollbackMigrations .* reverted 1: 002-create-accounts\.ts/);
    expect(stdout).toContain('Release FAILED in Migrate: MigrationFailed');
    expect(stdout).toContain('relation "users" does not exist, SQLSTATE 42P01');
    expect(stdout).toContain(
      `Console: https://us-east-2.console.aws.amazon.com/states/home?region=us-east-2#/v2/executions/details/${EXECUTION_ARN}`,
    );
  });

  it('exits 3 when the wait times out, saying the release goes on', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: 'RUNNING' });
    serveHistory(succeeded.slice(0, 10));

    const { code, stdout } = await cli([
      'start',
      '--image',
      IMAGE,
      '--wait',
      '--timeout',
      '100ms',
      '--poll',
      '20ms',
    ]);

    expect(code).toBe(3);
    expect(stdout).toContain('the release is still running');
  });

  it('under GitHub Actions adds an ::error:: annotation and a job summary table', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: 'FAILED' });
    serveHistory(failed);
    const summaryFile = join(await mkdtemp(join(tmpdir(), 'gh-')), 'summary.md');

    const { stdout } = await cli(['start', '--image', IMAGE, '--wait', '--poll', '10ms'], {
      GITHUB_ACTIONS: 'true',
      GITHUB_STEP_SUMMARY: summaryFile,
    });

    expect(stdout).toMatch(
      /^::error title=Release failed in Migrate::MigrationFailed: Migration 003-create-categories\.ts \(up\) failed.*%0AReverted: 002-create-accounts\.ts%0Ahttps:\/\//m,
    );
    const markdown = await readFile(summaryFile, 'utf8');
    expect(markdown).toContain('### Release failed ❌');
    expect(markdown).toMatch(/\| Migrate \| ❌ \| \d+ ms \| 0 \| MigrationFailed: /);
    expect(markdown).toContain('| 002-create-accounts.ts | applied, then reverted |');
  });

  it('adds a ::notice:: on success under GitHub Actions', async () => {
    serveHistory(succeeded);
    const { stdout } = await cli(['start', '--image', IMAGE, '--wait', '--poll', '10ms'], {
      GITHUB_ACTIONS: 'true',
    });
    expect(stdout).toMatch(/^::notice title=Release succeeded::2 migration\(s\) applied/m);
  });

  it('--json prints one document, under GitHub Actions too (the annotation goes to stderr)', async () => {
    serveHistory(succeeded);
    const { stdout, stderr } = await cli(['start', '--image', IMAGE, '--wait', '--poll', '10ms', '--json'], {
      GITHUB_ACTIONS: 'true',
    });
    expect(stderr).toMatch(/^::notice title=Release succeeded::/m);
    expect(JSON.parse(stdout)).toMatchObject({
      executionArn: EXECUTION_ARN,
      status: 'SUCCEEDED',
      applied: migrateOutput.migration.applied,
      timedOut: false,
    });
  });

  it('finds the state machine from the SAM stack output', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'buffet-pipeline',
          CreationTime: new Date(),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [{ OutputKey: 'StateMachineArn', OutputValue: STATE_MACHINE_ARN }],
        },
      ],
    });

    const { code } = await runCli(['start', '--image', IMAGE, '--stack', 'buffet-pipeline'], {
      env: {},
      cwd: process.cwd(),
    });

    expect(code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.stateMachineArn).toBe(STATE_MACHINE_ARN);
  });

  it('exits 2 on bad usage, starting nothing', async () => {
    const results = await Promise.all([
      cli(['start']),
      runCli(['start', '--image', IMAGE], { env: {}, cwd: process.cwd() }),
      cli(['start', '--image', 'not an image']),
      cli(['start', '--image', IMAGE, '--timeout', 'later']),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

describe('migration-pipeline status and redrive', () => {
  beforeEach(() => sfn.reset());

  it('status lists recent releases', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: EXECUTION_ARN,
          stateMachineArn: STATE_MACHINE_ARN,
          name: NAME,
          status: 'FAILED',
          startDate: new Date('2026-11-24T10:00:00Z'),
          stopDate: new Date('2026-11-24T10:03:00Z'),
          redriveCount: 1,
        },
      ],
    });

    const { stdout } = await cli(['status']);

    expect(stdout).toMatch(new RegExp(`${NAME} +FAILED \\(redriven 1x\\) +2026-11-24T10:00:00.000Z`));
  });

  it('status <execution> replays its states and result', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: 'FAILED' });
    serveHistory(failed);

    const { stdout } = await cli(['status', NAME]);

    expect(stdout).toMatch(/✗ Migrate .* MigrationFailed/);
    expect(stdout).toContain('Release FAILED in Migrate: MigrationFailed');
  });

  it('redrive redrives a failed release and follows it', async () => {
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date('2026-11-24T11:00:00Z') });
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION_ARN, status: 'SUCCEEDED' });
    serveHistory([
      ...failed,
      ...numbered([
        { type: 'ExecutionRedriven', executionRedrivenEventDetails: { redriveCount: 1 } },
        ...lambdaTask('Migrate', 'Migrate', migrateOutput),
        { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } },
      ]).map((event, i) => ({ ...event, id: failed.length + i + 1 })),
    ]);

    const { code, stdout } = await cli(['redrive', EXECUTION_ARN, '--wait', '--poll', '10ms']);

    expect(code).toBe(0);
    expect(stdout).toContain(`Redrove ${EXECUTION_ARN} at 2026-11-24T11:00:00.000Z`);
    expect(stdout).toContain('Release succeeded');
  });

  it('redrive of an execution that cannot be redriven fails with what to do instead', async () => {
    sfn.on(RedriveExecutionCommand).rejects(
      Object.assign(new Error('Execution is SUCCEEDED and cannot be redriven'), {
        name: 'ExecutionNotRedrivable',
      }),
    );

    const { code, stderr } = await cli(['redrive', EXECUTION_ARN]);

    expect(code).toBe(1);
    expect(stderr).toContain('Start a new release with --new instead');
  });
});

describe('release execution names', () => {
  it('are deterministic per image and valid for Step Functions', () => {
    expect(releaseExecutionName({ uri: IMAGE, tag: 'v42' })).toBe(NAME);
    expect(releaseExecutionName({ uri: IMAGE.replace(/@.*/, ':v1.2.3') })).toBe('release-v1_2_3');
    expect(releaseExecutionName({ uri: IMAGE })).toBe('release-4b8e4c0d5a1f');
    expect(releaseExecutionName({ uri: IMAGE, tag: 't'.repeat(128) })).toHaveLength(80);
  });
});
