import {
  type AppRunnerClient,
  DescribeServiceCommand,
  type DescribeServiceCommandOutput,
  ListOperationsCommand,
  type OperationStatus,
  type OperationSummary,
  UpdateServiceCommand,
} from '@aws-sdk/client-apprunner';
import { ConfigurationInvalid, DeploymentFailed, InvalidInput, ServiceBusy } from '../errors.ts';
import type { ResolvedImage } from './image.ts';

export interface DeploymentStarted {
  /** Absent when the service already runs this image: nothing was changed. */
  operationId?: string;
  alreadyDeployed: boolean;
  image: string;
  /** ISO time the deploy step started it; the status polls give up after DEPLOY_TIMEOUT. */
  startedAt?: string;
}

export interface DeploymentStatus {
  operationId: string;
  status: OperationStatus;
  /** True once the operation reached SUCCEEDED; failures throw `DeploymentFailed` instead. */
  finished: boolean;
  durationMs?: number;
}

/**
 * Points the App Runner service at exactly this image with UpdateService (StartDeployment would only
 * re-pull the tag already configured, so it cannot choose an image). Automatic deployments are
 * switched off in the same call: an ECR push must not deploy before the migrations ran. Idempotent:
 * a service that already runs this image and is healthy is left alone.
 */
export async function startAppRunnerDeployment(
  client: AppRunnerClient,
  { serviceArn, image }: { serviceArn: string; image: Pick<ResolvedImage, 'identifier'> },
): Promise<DeploymentStarted> {
  const { service, source, current } = await describeImageService(client, serviceArn);
  if (service.Status === 'OPERATION_IN_PROGRESS') {
    throw new ServiceBusy(
      `App Runner service ${service.ServiceName} has an operation in progress; the pipeline retries when it ends.`,
      {
        service: serviceArn,
      },
    );
  }
  if (current.ImageIdentifier === image.identifier && service.Status === 'RUNNING') {
    return { alreadyDeployed: true, image: image.identifier };
  }
  try {
    const { OperationId } = await client.send(
      new UpdateServiceCommand({
        ServiceArn: serviceArn,
        SourceConfiguration: {
          ImageRepository: {
            ImageIdentifier: image.identifier,
            ImageRepositoryType: current.ImageRepositoryType ?? 'ECR',
            ...(current.ImageConfiguration ? { ImageConfiguration: current.ImageConfiguration } : {}),
          },
          ...(source.AuthenticationConfiguration
            ? { AuthenticationConfiguration: source.AuthenticationConfiguration }
            : {}),
          AutoDeploymentsEnabled: false,
        },
      }),
    );
    return { operationId: OperationId, alreadyDeployed: false, image: image.identifier };
  } catch (error) {
    if ((error as Error).name === 'InvalidStateException') {
      throw new ServiceBusy(
        `App Runner refused the update because service ${service.ServiceName} is busy (${(error as Error).message}); the pipeline retries.`,
        { service: serviceArn },
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Before any migration runs: the service exists, deploys from an image repository, and passes only
 * roles the deploy function may pass. Returns the image it runs now, which a failed release restores.
 */
export async function preflightAppRunner(
  client: AppRunnerClient,
  { serviceArn, passableRoles }: { serviceArn: string; passableRoles: readonly string[] | undefined },
): Promise<{ image: string }> {
  const { source, current } = await describeImageService(client, serviceArn);
  const accessRole = source.AuthenticationConfiguration?.AccessRoleArn;
  if (accessRole && passableRoles && !passableRoles.includes(accessRole)) {
    throw new ConfigurationInvalid(
      `App Runner service ${serviceArn} pulls its image with access role ${accessRole}, which the deploy function may not pass (it may pass ${passableRoles.join(', ') || 'none'}). Set the AppRunnerAccessRoleArn parameter to that role and deploy the stack again.`,
      { variable: 'AppRunnerAccessRoleArn' },
    );
  }
  if (!current.ImageIdentifier) {
    throw new ConfigurationInvalid(`App Runner service ${serviceArn} names no image.`, {
      variable: 'APP_RUNNER_SERVICE_ARN',
    });
  }
  return { image: current.ImageIdentifier };
}

async function describeImageService(client: AppRunnerClient, serviceArn: string) {
  let described: DescribeServiceCommandOutput;
  try {
    described = await client.send(new DescribeServiceCommand({ ServiceArn: serviceArn }));
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') {
      throw new ConfigurationInvalid(
        `App Runner service ${serviceArn} does not exist in this account and Region; set AppRunnerServiceArn to the app's service and deploy the stack again.`,
        { variable: 'APP_RUNNER_SERVICE_ARN' },
        { cause: error },
      );
    }
    throw error;
  }
  const service = described.Service;
  const source = service?.SourceConfiguration;
  const current = source?.ImageRepository;
  if (!service || !source || !current) {
    throw new ConfigurationInvalid(
      `App Runner service ${serviceArn} is not deployed from an image repository (it builds from source code); point the pipeline at an image-based service.`,
      { variable: 'APP_RUNNER_SERVICE_ARN' },
    );
  }
  return { service, source, current };
}

const FAILED: ReadonlySet<OperationStatus> = new Set([
  'FAILED',
  'ROLLBACK_IN_PROGRESS',
  'ROLLBACK_SUCCEEDED',
  'ROLLBACK_FAILED',
]);

/**
 * The status of one operation, from ListOperations (newest first, paginated). A rolled-back operation
 * is a failed deployment even though the service is RUNNING again on the old image: exactly the case a
 * service-level health check misses.
 */
export async function getAppRunnerOperationStatus(
  client: AppRunnerClient,
  { serviceArn, operationId }: { serviceArn: string; operationId: string },
): Promise<DeploymentStatus> {
  const operation = await findOperation(client, serviceArn, operationId);
  const status = operation.Status as OperationStatus;
  if (FAILED.has(status)) {
    throw new DeploymentFailed(
      `App Runner deployment ${operationId} ended ${status}${status.startsWith('ROLLBACK') ? ' (App Runner rolled the service back to the previous image)' : ''}. ` +
        "Read the service's deployment logs (App Runner console > Logs > Deployment logs) for the reason, e.g. a failing health check.",
      { service: serviceArn, operationId, status, reason: `operation ${status}` },
    );
  }
  const durationMs =
    status === 'SUCCEEDED' && operation.StartedAt && operation.EndedAt
      ? operation.EndedAt.getTime() - operation.StartedAt.getTime()
      : undefined;
  return {
    operationId,
    status,
    finished: status === 'SUCCEEDED',
    ...(durationMs !== undefined ? { durationMs } : {}),
  };
}

async function findOperation(
  client: AppRunnerClient,
  serviceArn: string,
  operationId: string,
): Promise<OperationSummary> {
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListOperationsCommand({ ServiceArn: serviceArn, MaxResults: 20, NextToken: nextToken }),
    );
    const found = page.OperationSummaryList?.find((operation) => operation.Id === operationId);
    if (found) return found;
    nextToken = page.NextToken;
  } while (nextToken);
  throw new InvalidInput(`App Runner service ${serviceArn} has no operation ${operationId}.`, {
    field: 'operationId',
  });
}
