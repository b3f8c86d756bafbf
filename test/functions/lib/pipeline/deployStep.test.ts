import {
  AppRunnerClient,
  DescribeServiceCommand,
  ListOperationsCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-apprunner';
import { ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { runDeployStep } from '../../../../functions/lib/pipeline/deployStep.ts';
import { noMetrics } from '../../../../functions/lib/pipeline/metrics.ts';
import { silentLog } from '../../../../functions/lib/runtime.ts';
import { DIGEST, describeService, operation, REPOSITORY, SERVICE_ARN } from '../../../support/aws.ts';

const appRunner = mockClient(AppRunnerClient);
let now = Date.parse('2026-11-24T10:00:00Z');
const deps = {
  appRunner: new AppRunnerClient({ region: 'us-east-2' }),
  ecs: new ECSClient({ region: 'us-east-2' }),
  config: {
    target: { kind: 'apprunner' as const, serviceArn: SERVICE_ARN },
    allowedRepository: REPOSITORY,
    deployTimeoutMs: 45 * 60_000,
    passableRoles: undefined,
  },
  clock: { now: () => now, sleep: async () => {} },
  log: silentLog,
  metrics: noMetrics,
};

describe('the deploy step', () => {
  beforeEach(() => {
    appRunner.reset();
    now = Date.parse('2026-11-24T10:00:00Z');
  });

  it('records when the deployment started, for the polls', async () => {
    appRunner.on(DescribeServiceCommand).resolves(describeService());
    appRunner.on(UpdateServiceCommand).resolves({ ...describeService(), OperationId: 'op-1' });

    const started = await runDeployStep({ action: 'start', image: { uri: `${REPOSITORY}@${DIGEST}` } }, deps);

    expect(started).toMatchObject({ operationId: 'op-1', startedAt: '2026-11-24T10:00:00.000Z' });
  });

  it('turns a throttled or failing AWS API into ServiceBusy, so the state machine retries instead of rolling back', async () => {
    for (const error of [
      Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
      }),
      Object.assign(new Error('Internal'), {
        name: 'InternalServiceErrorException',
        $metadata: { httpStatusCode: 500 },
      }),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    ]) {
      appRunner.on(ListOperationsCommand).rejects(error);
      const failure = await runDeployStep({ action: 'status', operationId: 'op-1' }, deps).catch((e) => e);
      expect(failure.name, error.name).toBe(ErrorName.ServiceBusy);
    }
  });

  it('fails DeploymentFailed when a deployment is still unfinished after DEPLOY_TIMEOUT', async () => {
    appRunner
      .on(ListOperationsCommand)
      .resolves({ OperationSummaryList: [operation('op-1', 'IN_PROGRESS')] });
    const poll = () =>
      runDeployStep({ action: 'status', operationId: 'op-1', startedAt: '2026-11-24T10:00:00.000Z' }, deps);

    now += 44 * 60_000;
    expect(await poll()).toMatchObject({ finished: false });
    now += 2 * 60_000;
    const failure = await poll().catch((e) => e);

    expect(failure.name).toBe(ErrorName.DeploymentFailed);
    expect(failure.message).toContain('did not finish within 45 min');
  });
});
