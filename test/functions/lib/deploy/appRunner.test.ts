import {
  AppRunnerClient,
  DescribeServiceCommand,
  ListOperationsCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-apprunner';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  getAppRunnerOperationStatus,
  startAppRunnerDeployment,
} from '../../../../functions/lib/deploy/appRunner.ts';
import { resolveImage } from '../../../../functions/lib/deploy/image.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { DIGEST, describeService, operation, REPOSITORY, SERVICE_ARN } from '../../../support/aws.ts';

const appRunnerMock = mockClient(AppRunnerClient);
const client = new AppRunnerClient({ region: 'us-east-2' });
const image = resolveImage({ uri: `${REPOSITORY}:v42`, digest: DIGEST }, REPOSITORY);

describe('deploying to App Runner', () => {
  beforeEach(() => appRunnerMock.reset());

  it('updates the service to the image by digest, keeping its image configuration and access role', async () => {
    appRunnerMock.on(DescribeServiceCommand).resolves(describeService());
    appRunnerMock.on(UpdateServiceCommand).resolves({ ...describeService(), OperationId: 'op-1' });

    const started = await startAppRunnerDeployment(client, { serviceArn: SERVICE_ARN, image });

    expect(started).toEqual({
      operationId: 'op-1',
      alreadyDeployed: false,
      image: `${REPOSITORY}@${DIGEST}`,
    });
    expect(appRunnerMock.commandCalls(UpdateServiceCommand)[0]?.args[0].input).toEqual({
      ServiceArn: SERVICE_ARN,
      SourceConfiguration: {
        ImageRepository: {
          ImageIdentifier: `${REPOSITORY}@${DIGEST}`,
          ImageRepositoryType: 'ECR',
          ImageConfiguration: { Port: '8000', RuntimeEnvironmentVariables: { ENVIRONMENT: 'production' } },
        },
        AuthenticationConfiguration: {
          AccessRoleArn: 'arn:aws:iam::123456789012:role/service-role/AppRunnerECRAccessRole',
        },
        AutoDeploymentsEnabled: false,
      },
    });
  });

  it('does nothing when the service already runs that image', async () => {
    appRunnerMock.on(DescribeServiceCommand).resolves(describeService(`${REPOSITORY}@${DIGEST}`));

    const started = await startAppRunnerDeployment(client, { serviceArn: SERVICE_ARN, image });

    expect(started).toEqual({ alreadyDeployed: true, image: `${REPOSITORY}@${DIGEST}` });
    expect(appRunnerMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails ServiceBusy while an operation is in progress, before or during the update', async () => {
    appRunnerMock.on(DescribeServiceCommand).resolves(describeService(undefined, 'OPERATION_IN_PROGRESS'));
    const busy = await startAppRunnerDeployment(client, { serviceArn: SERVICE_ARN, image }).catch((e) => e);
    expect(busy.name).toBe(ErrorName.ServiceBusy);

    appRunnerMock.on(DescribeServiceCommand).resolves(describeService());
    appRunnerMock.on(UpdateServiceCommand).rejects(
      Object.assign(new Error('Service cannot be updated in the current state: OPERATION_IN_PROGRESS.'), {
        name: 'InvalidStateException',
      }),
    );
    const refused = await startAppRunnerDeployment(client, { serviceArn: SERVICE_ARN, image }).catch(
      (e) => e,
    );
    expect(refused.name).toBe(ErrorName.ServiceBusy);
  });

  it('finds the operation across ListOperations pages and reports its status', async () => {
    appRunnerMock
      .on(ListOperationsCommand, { ServiceArn: SERVICE_ARN, MaxResults: 20, NextToken: undefined })
      .resolves({ OperationSummaryList: [operation('newer', 'IN_PROGRESS')], NextToken: 'page-2' })
      .on(ListOperationsCommand, { ServiceArn: SERVICE_ARN, MaxResults: 20, NextToken: 'page-2' })
      .resolves({ OperationSummaryList: [operation('op-1', 'SUCCEEDED')] });

    const status = await getAppRunnerOperationStatus(client, {
      serviceArn: SERVICE_ARN,
      operationId: 'op-1',
    });

    expect(status).toEqual({ operationId: 'op-1', status: 'SUCCEEDED', finished: true, durationMs: 252_000 });
  });

  it('fails DeploymentFailed for a rolled-back operation even though the service is running again', async () => {
    for (const status of [
      'FAILED',
      'ROLLBACK_IN_PROGRESS',
      'ROLLBACK_SUCCEEDED',
      'ROLLBACK_FAILED',
    ] as const) {
      appRunnerMock.on(ListOperationsCommand).resolves({ OperationSummaryList: [operation('op-1', status)] });
      const error = await getAppRunnerOperationStatus(client, {
        serviceArn: SERVICE_ARN,
        operationId: 'op-1',
      }).catch((e) => e);
      expect(error.name, status).toBe(ErrorName.DeploymentFailed);
      expect(error.context.status).toBe(status);
    }
  });

  it('reports a pending or running operation as not finished', async () => {
    appRunnerMock
      .on(ListOperationsCommand)
      .resolves({ OperationSummaryList: [operation('op-1', 'PENDING')] });
    expect(
      await getAppRunnerOperationStatus(client, { serviceArn: SERVICE_ARN, operationId: 'op-1' }),
    ).toEqual({
      operationId: 'op-1',
      status: 'PENDING',
      finished: false,
    });
  });
});

describe('the image allow-list', () => {
  it('pins a tagged image by digest when the digest is given', () => {
    expect(resolveImage({ uri: `${REPOSITORY}:v42`, digest: DIGEST }, REPOSITORY)).toEqual({
      repository: REPOSITORY,
      digest: DIGEST,
      tag: 'v42',
      identifier: `${REPOSITORY}@${DIGEST}`,
    });
    expect(resolveImage({ uri: `${REPOSITORY}:v42` }, REPOSITORY).identifier).toBe(`${REPOSITORY}:v42`);
  });

  it('refuses images of other repositories, and contradictions', () => {
    const refused = [
      { uri: `${REPOSITORY}-evil:v1` },
      { uri: 'public.ecr.aws/nginx/nginx:latest' },
      { uri: `${REPOSITORY}/sub:v1` },
      { uri: `${REPOSITORY}:v1`, tag: 'v2' },
      { uri: `${REPOSITORY}@${DIGEST}`, digest: `sha256:${'0'.repeat(64)}` },
      { uri: REPOSITORY },
    ];
    for (const image of refused) {
      expect(() => resolveImage(image, REPOSITORY)).toThrowError(
        expect.objectContaining({ name: ErrorName.InvalidInput }),
      );
    }
  });
});
