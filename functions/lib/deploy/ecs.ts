import {
  type ContainerDefinition,
  type Deployment,
  type DeploymentRolloutState,
  DescribeServicesCommand,
  type DescribeServicesCommandOutput,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type Tag,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { ConfigurationInvalid, DeploymentFailed, InvalidInput, ServiceBusy } from '../errors.ts';
import type { DeploymentStarted, DeploymentStatus } from './appRunner.ts';
import type { ResolvedImage } from './image.ts';

/** `DeploymentStatus` with ECS's rollout states instead of App Runner's operation statuses. */
export interface EcsDeploymentStatus extends Omit<DeploymentStatus, 'status'> {
  status: DeploymentRolloutState;
}

/**
 * What DescribeTaskDefinition returns but RegisterTaskDefinition does not take: ECS sets these itself
 * on every revision (the CLI refuses them as unknown parameters, aws/aws-sdk#38).
 */
const READ_ONLY = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequestedAt',
] as const satisfies readonly (keyof TaskDefinition)[];

/**
 * The fields a revision is registered with. `Pick` compiles only while every field left after READ_ONLY
 * is a RegisterTaskDefinition input, so an SDK update that adds a read-only field to TaskDefinition
 * fails the build instead of the deployment.
 */
type Registrable = Pick<
  RegisterTaskDefinitionCommandInput,
  Exclude<keyof TaskDefinition, (typeof READ_ONLY)[number]>
>;

/**
 * Puts exactly this image in one container of the ECS service: a new revision of the service's task
 * definition (every field copied, only that container's image changed, so secrets, roles, logging and
 * sidecars stay as they are), then UpdateService to it, which starts a deployment. Idempotent: a
 * service whose completed deployment already runs this image is left alone. A service still rolling
 * out is not touched, so the pipeline never stacks its deployment onto someone else's.
 *
 * ECS Express Mode services (`resourceManagementType` ECS) are ordinary ECS services to these APIs and
 * keep changes made through them; their application container is named `Main`.
 */
export async function startEcsDeployment(
  client: ECSClient,
  {
    cluster,
    service: serviceName,
    containerName,
    image,
  }: { cluster: string; service: string; containerName: string; image: Pick<ResolvedImage, 'identifier'> },
): Promise<DeploymentStarted> {
  const service = await describeDeployableService(client, cluster, serviceName);
  const deployments = service.deployments ?? [];
  const rollingOut = deployments.find(
    (deployment) => rolloutState(deployment, deployments) === 'IN_PROGRESS',
  );
  if (rollingOut) {
    throw new ServiceBusy(
      `ECS service ${serviceName} has deployment ${rollingOut.id} still rolling out; the pipeline retries when it ends.`,
      { service: serviceName, ...(rollingOut.id ? { operationId: rollingOut.id } : {}) },
    );
  }

  const { definition, container, tags } = await appContainer(client, service, serviceName, containerName);
  const primary = deployments.find((deployment) => deployment.status === 'PRIMARY');
  if (container.image === image.identifier && primary && rolloutState(primary, deployments) === 'COMPLETED') {
    return { alreadyDeployed: true, image: image.identifier };
  }

  const registered = await client.send(
    new RegisterTaskDefinitionCommand(registration(definition, tags, containerName, image)),
  );
  const taskDefinitionArn = registered.taskDefinition?.taskDefinitionArn;
  return updateServiceTo(client, { cluster, serviceName, taskDefinitionArn, image: image.identifier });
}

/**
 * Before any migration runs: the service is active and deployed by ECS itself, its task definition
 * has the app's container, and its roles are ones the deploy function may pass. Returns the task
 * definition it runs now, which a failed release restores.
 */
export async function preflightEcs(
  client: ECSClient,
  {
    cluster,
    service: serviceName,
    containerName,
    passableRoles,
  }: {
    cluster: string;
    service: string;
    containerName: string;
    passableRoles: readonly string[] | undefined;
  },
): Promise<{ taskDefinition: string }> {
  const service = await describeDeployableService(client, cluster, serviceName);
  const { definition } = await appContainer(client, service, serviceName, containerName);
  const roles = [definition.taskRoleArn, definition.executionRoleArn].filter(
    (role): role is string => !!role,
  );
  const unpassable = passableRoles ? roles.filter((role) => !passableRoles.includes(role)) : [];
  if (unpassable.length > 0) {
    throw new ConfigurationInvalid(
      `Task definition ${service.taskDefinition} uses role(s) ${unpassable.join(', ')}, which the deploy function may not pass to a new revision. Set EcsTaskRoleArn and EcsExecutionRoleArn to the task definition's roles and deploy the stack again.`,
      { variable: 'EcsTaskRoleArn' },
    );
  }
  return { taskDefinition: service.taskDefinition as string };
}

/**
 * Puts the service back on the task definition it ran before the release (no new revision). Nothing
 * to do when its completed PRIMARY deployment already runs it: the circuit breaker rolled it back.
 */
export async function restoreEcsTaskDefinition(
  client: ECSClient,
  {
    cluster,
    service: serviceName,
    taskDefinition,
  }: { cluster: string; service: string; taskDefinition: string },
): Promise<DeploymentStarted> {
  const service = await describeDeployableService(client, cluster, serviceName);
  const deployments = service.deployments ?? [];
  const primary = deployments.find((deployment) => deployment.status === 'PRIMARY');
  if (primary?.taskDefinition === taskDefinition && rolloutState(primary, deployments) === 'COMPLETED') {
    return { alreadyDeployed: true, image: taskDefinition };
  }
  const rollingOut = deployments.find(
    (deployment) => rolloutState(deployment, deployments) === 'IN_PROGRESS',
  );
  if (rollingOut && primary?.taskDefinition === taskDefinition) {
    // The circuit breaker is rolling back to it already: follow that deployment.
    return { operationId: primary.id, alreadyDeployed: false, image: taskDefinition };
  }
  return updateServiceTo(client, {
    cluster,
    serviceName,
    taskDefinitionArn: taskDefinition,
    image: taskDefinition,
  });
}

async function describeDeployableService(
  client: ECSClient,
  cluster: string,
  serviceName: string,
): Promise<Service> {
  const service = await describeService(client, cluster, serviceName);
  const controller = service.deploymentController?.type;
  if (controller && controller !== 'ECS') {
    throw new ConfigurationInvalid(
      `ECS service ${serviceName} uses the ${controller} deployment controller, so its task definition changes only through ${controller === 'CODE_DEPLOY' ? 'a CodeDeploy deployment' : 'a new task set'}, which this pipeline does not drive; point the pipeline at a service with the ECS deployment controller.`,
      { variable: 'ECS_SERVICE' },
    );
  }
  return service;
}

async function appContainer(client: ECSClient, service: Service, serviceName: string, containerName: string) {
  const current = await client.send(
    new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition, include: ['TAGS'] }),
  );
  const definition = current.taskDefinition;
  const containers = definition?.containerDefinitions ?? [];
  const container = containers.find((candidate) => candidate.name === containerName);
  if (!definition || !container) {
    const express =
      service.resourceManagementType === 'ECS' ? ' (an Express Mode service names it Main)' : '';
    throw new ConfigurationInvalid(
      `Task definition ${service.taskDefinition} of ECS service ${serviceName} has no container named ${containerName}; ` +
        `its containers are ${containers.map((candidate) => candidate.name).join(', ') || 'none'}. Set EcsContainerName to the container that runs the app${express}.`,
      { variable: 'ECS_CONTAINER_NAME' },
    );
  }
  return { definition, container, tags: current.tags };
}

/** UpdateService to a task definition; the deployment it started is the PRIMARY one on that revision. */
async function updateServiceTo(
  client: ECSClient,
  {
    cluster,
    serviceName,
    taskDefinitionArn,
    image,
  }: { cluster: string; serviceName: string; taskDefinitionArn: string | undefined; image: string },
): Promise<DeploymentStarted> {
  let updated: Service | undefined;
  try {
    ({ service: updated } = await client.send(
      new UpdateServiceCommand({ cluster, service: serviceName, taskDefinition: taskDefinitionArn }),
    ));
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'ServiceNotActiveException' || name === 'ServiceNotFoundException') {
      throw new InvalidInput(
        `ECS service ${serviceName} was deleted while the pipeline deployed to it (${(error as Error).message}); point the pipeline at an active service.`,
        { field: 'service' },
        { cause: error },
      );
    }
    // Neither is among UpdateService's documented errors; both are ECS's names for a resource changing
    // under a call, for which waiting and retrying is the answer.
    if (name === 'ConflictException' || name === 'UpdateInProgressException') {
      throw new ServiceBusy(
        `ECS refused the update because service ${serviceName} is changing (${(error as Error).message}); the pipeline retries.`,
        { service: serviceName },
        { cause: error },
      );
    }
    throw error;
  }
  // The response already holds the deployment UpdateService started: the PRIMARY one, on the new revision.
  const started = updated?.deployments?.find(
    (deployment) => deployment.status === 'PRIMARY' && deployment.taskDefinition === taskDefinitionArn,
  );
  if (!started?.id) {
    throw new ServiceBusy(
      `ECS service ${serviceName} was updated to ${taskDefinitionArn}, but another change replaced that deployment at once; the pipeline retries.`,
      { service: serviceName },
    );
  }
  return { operationId: started.id, alreadyDeployed: false, image };
}

/**
 * The state of one deployment, from DescribeServices. A deployment that the circuit breaker failed, or
 * that is no longer the service's PRIMARY one (rolled back, or replaced by another deployment), is a
 * failed deployment even though the service is healthy again on the previous revision: exactly the case
 * a service-level health check misses.
 */
export async function getEcsDeploymentStatus(
  client: ECSClient,
  { cluster, service: serviceName, deploymentId }: { cluster: string; service: string; deploymentId: string },
): Promise<EcsDeploymentStatus> {
  const service = await describeService(client, cluster, serviceName);
  const deployments = service.deployments ?? [];
  const deployment = deployments.find((candidate) => candidate.id === deploymentId);
  const primary = deployments.find((candidate) => candidate.status === 'PRIMARY');
  if (!deployment) {
    if (primary) throw replaced(service, serviceName, deploymentId, primary);
    throw new InvalidInput(`ECS service ${serviceName} has no deployment ${deploymentId}.`, {
      field: 'deploymentId',
    });
  }
  const status = rolloutState(deployment, deployments);
  if (status === 'FAILED') {
    const reason = deployment.rolloutStateReason ?? 'rollout FAILED';
    const rolledBack = service.deploymentConfiguration?.deploymentCircuitBreaker?.rollback
      ? ' (ECS rolls the service back to its last completed deployment)'
      : '';
    throw new DeploymentFailed(
      `ECS deployment ${deploymentId} of service ${serviceName} failed: ${reason}${rolledBack}. ` +
        "Read the service's events and its stopped tasks' reasons (ECS console > the service > Deployments and Events, or `aws ecs describe-services`) and the container logs, e.g. a crash on start or a failing health check.",
      { service: serviceName, operationId: deploymentId, status, reason },
    );
  }
  // An unfinished deployment that is no longer PRIMARY will never finish: ECS is draining it.
  if (status === 'IN_PROGRESS' && deployment.status !== 'PRIMARY' && primary) {
    throw replaced(service, serviceName, deploymentId, primary, deployment);
  }
  const durationMs =
    status === 'COMPLETED' && deployment.createdAt && deployment.updatedAt
      ? deployment.updatedAt.getTime() - deployment.createdAt.getTime()
      : undefined;
  return {
    operationId: deploymentId,
    status,
    finished: status === 'COMPLETED',
    ...(durationMs !== undefined ? { durationMs } : {}),
  };
}

/**
 * A newer PRIMARY deployment took over from ours: how the circuit breaker rolls back (its reason reads
 * "ECS deployment circuit breaker: rolling back to deploymentId …"), and how another release wins. Once
 * the old tasks are drained, ECS drops the replaced deployment from the list altogether.
 */
function replaced(
  service: Service,
  serviceName: string,
  deploymentId: string,
  primary: Deployment,
  deployment?: Deployment,
): DeploymentFailed {
  // Events come newest first; the newest that names the deployment says why it failed (e.g. "(service x)
  // (deployment ecs-svc/…) deployment failed: tasks failed to start."), where the newest of all often
  // only says the rolled-back service is steady again.
  const events = service.events ?? [];
  const named = events.find((candidate) => candidate.message?.includes(deploymentId));
  const event = (named ?? events[0])?.message;
  const reason = `replaced by deployment ${primary.id}${primary.rolloutStateReason ? ` (${primary.rolloutStateReason})` : ''}`;
  return new DeploymentFailed(
    `ECS deployment ${deploymentId} of service ${serviceName} will not finish: it was ${reason}, by the deployment circuit breaker rolling it back or by another deployment` +
      `${event ? `. ${named ? 'Its latest' : 'Latest'} service event: ${event}` : ''}. Read the service's events and stopped tasks (ECS console > the service > Deployments and Events) for the cause.`,
    {
      service: serviceName,
      operationId: deploymentId,
      status: deployment?.rolloutState ?? 'INACTIVE',
      reason,
    },
  );
}

async function describeService(client: ECSClient, cluster: string, serviceName: string): Promise<Service> {
  let described: DescribeServicesCommandOutput;
  try {
    described = await client.send(new DescribeServicesCommand({ cluster, services: [serviceName] }));
  } catch (error) {
    if ((error as Error).name === 'ClusterNotFoundException') {
      throw new InvalidInput(
        `ECS cluster ${cluster} was not found in this account and Region; configure the cluster that runs the service.`,
        { field: 'cluster' },
        { cause: error },
      );
    }
    throw error;
  }
  // A missing service is not an error to DescribeServices: it comes back under `failures` as MISSING.
  const service = described.services?.[0];
  if (service?.status !== 'ACTIVE') {
    const why = service
      ? `is ${service.status} (deleted or being deleted)`
      : `was not found (${described.failures?.[0]?.reason ?? 'MISSING'})`;
    throw new InvalidInput(
      `ECS service ${serviceName} in cluster ${cluster} ${why}; point the pipeline at an active service.`,
      { field: 'service' },
    );
  }
  return service;
}

/**
 * ECS reports `rolloutState` only for services it deploys itself that are not behind a Classic Load
 * Balancer; for the others this falls back to the condition of the SDK's services-stable waiter: the
 * only deployment left, with every task running.
 */
function rolloutState(deployment: Deployment, deployments: Deployment[]): DeploymentRolloutState {
  if (deployment.rolloutState) return deployment.rolloutState;
  return deployments.length === 1 && deployment.runningCount === deployment.desiredCount
    ? 'COMPLETED'
    : 'IN_PROGRESS';
}

function registration(
  definition: TaskDefinition,
  tags: Tag[] | undefined,
  containerName: string,
  image: Pick<ResolvedImage, 'identifier'>,
): RegisterTaskDefinitionCommandInput {
  const copy: Partial<TaskDefinition> = { ...definition };
  for (const field of READ_ONLY) delete copy[field];
  const registrable: Partial<Registrable> = copy;
  return {
    ...registrable,
    family: definition.family,
    containerDefinitions: (definition.containerDefinitions ?? []).map(
      (container): ContainerDefinition =>
        container.name === containerName ? { ...container, image: image.identifier } : container,
    ),
    ...withTags(tags),
  };
}

/**
 * The revision keeps the old one's tags (RegisterTaskDefinition does not inherit them). Keys starting
 * with `aws:`, in any case, are reserved to AWS and cannot be set by a caller, so they are left out.
 */
function withTags(tags: Tag[] | undefined): Pick<RegisterTaskDefinitionCommandInput, 'tags'> {
  const own = (tags ?? []).filter((tag) => !tag.key?.toLowerCase().startsWith('aws:'));
  return own.length > 0 ? { tags: own } : {};
}
