import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { getEcsDeploymentStatus, startEcsDeployment } from '../../../../functions/lib/deploy/ecs.ts';
import { resolveImage } from '../../../../functions/lib/deploy/image.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { DIGEST, REGION, REPOSITORY } from '../../../support/aws.ts';
import {
  APP,
  CLUSTER,
  deployment,
  describeServices,
  NEW_DEPLOYMENT,
  NEW_IMAGE,
  NEW_TASK_DEFINITION_ARN,
  OLD_DEPLOYMENT,
  REGISTRABLE,
  ROLLBACK_DEPLOYMENT,
  SERVICE,
  SERVICE_ARN,
  SIDECAR,
  service,
  TAGS,
  TASK_DEFINITION_ARN,
  taskDefinition,
} from '../../../support/ecs.ts';

const ecsMock = mockClient(ECSClient);
const client = new ECSClient({ region: REGION });
const image = resolveImage({ uri: `${REPOSITORY}:v42`, digest: DIGEST }, REPOSITORY);
const target = { cluster: CLUSTER, service: SERVICE, containerName: 'app', image };

describe('deploying to ECS', () => {
  beforeEach(() => ecsMock.reset());

  it('registers a revision that changes only the app container image, then updates the service to it', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition(), tags: TAGS });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({
      taskDefinition: {
        ...taskDefinition(NEW_IMAGE),
        taskDefinitionArn: NEW_TASK_DEFINITION_ARN,
        revision: 42,
      },
      tags: TAGS,
    });
    ecsMock.on(UpdateServiceCommand).resolves({
      service: service([
        deployment(NEW_DEPLOYMENT, 'PRIMARY', 'IN_PROGRESS', NEW_TASK_DEFINITION_ARN),
        deployment(OLD_DEPLOYMENT, 'ACTIVE', 'COMPLETED', TASK_DEFINITION_ARN),
      ]),
    });

    const started = await startEcsDeployment(client, target);

    expect(started).toEqual({ operationId: NEW_DEPLOYMENT, alreadyDeployed: false, image: NEW_IMAGE });
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)[0]?.args[0].input).toEqual({
      taskDefinition: TASK_DEFINITION_ARN,
      include: ['TAGS'],
    });
    const registered = ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]?.args[0].input;
    expect(registered).toStrictEqual({
      ...REGISTRABLE,
      containerDefinitions: [{ ...APP, image: NEW_IMAGE }, SIDECAR],
      tags: TAGS,
    });
    expect(registered?.containerDefinitions?.[1]).toStrictEqual(SIDECAR);
    expect(ecsMock.commandCalls(UpdateServiceCommand)[0]?.args[0].input).toEqual({
      cluster: CLUSTER,
      service: SERVICE,
      taskDefinition: NEW_TASK_DEFINITION_ARN,
    });
  });

  it('does nothing when the completed deployment already runs that image', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)));
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .resolves({ taskDefinition: taskDefinition(NEW_IMAGE), tags: TAGS });

    const started = await startEcsDeployment(client, target);

    expect(started).toEqual({ alreadyDeployed: true, image: NEW_IMAGE });
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails ServiceBusy while a deployment is still rolling out, before registering anything', async () => {
    const rollingOut = [
      [
        deployment(NEW_DEPLOYMENT, 'PRIMARY', 'IN_PROGRESS', NEW_TASK_DEFINITION_ARN),
        deployment(OLD_DEPLOYMENT, 'ACTIVE', 'COMPLETED', TASK_DEFINITION_ARN),
      ],
      [
        deployment(
          ROLLBACK_DEPLOYMENT,
          'PRIMARY',
          'IN_PROGRESS',
          TASK_DEFINITION_ARN,
          `ECS deployment circuit breaker: rolling back to deploymentId ${OLD_DEPLOYMENT}.`,
        ),
        deployment(NEW_DEPLOYMENT, 'ACTIVE', 'FAILED', NEW_TASK_DEFINITION_ARN),
      ],
    ];
    for (const deployments of rollingOut) {
      ecsMock.on(DescribeServicesCommand).resolves(describeServices(...deployments));

      const error = await startEcsDeployment(client, target).catch((e) => e);

      expect(error.name).toBe(ErrorName.ServiceBusy);
      expect(error.context).toEqual({ service: SERVICE, operationId: deployments[0]?.id });
    }
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails ConfigurationInvalid naming the containers there are when the container is not in the task definition', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition(), tags: TAGS });

    const error = await startEcsDeployment(client, { ...target, containerName: 'web' }).catch((e) => e);

    expect(error.name).toBe(ErrorName.ConfigurationInvalid);
    expect(error.context).toEqual({ variable: 'ECS_CONTAINER_NAME' });
    expect(error.message).toContain('its containers are app, otel-collector');
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });

  it('fails InvalidInput for a service that is missing or deleted', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({
      services: [],
      failures: [{ arn: SERVICE_ARN, reason: 'MISSING' }],
      $metadata: { httpStatusCode: 200 },
    });
    const missing = await startEcsDeployment(client, target).catch((e) => e);
    expect(missing.name).toBe(ErrorName.InvalidInput);
    expect(missing.message).toContain(`ECS service ${SERVICE} in cluster ${CLUSTER} was not found (MISSING)`);

    ecsMock.on(DescribeServicesCommand).resolves({
      services: [{ ...service([]), status: 'INACTIVE' }],
      failures: [],
      $metadata: { httpStatusCode: 200 },
    });
    const deleted = await startEcsDeployment(client, target).catch((e) => e);
    expect(deleted.name).toBe(ErrorName.InvalidInput);
    expect(deleted.message).toContain('is INACTIVE');
  });
});

describe('the status of an ECS deployment', () => {
  beforeEach(() => ecsMock.reset());
  const query = { cluster: CLUSTER, service: SERVICE, deploymentId: NEW_DEPLOYMENT };

  it('reports a deployment still rolling out as not finished', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(
        describeServices(
          deployment(NEW_DEPLOYMENT, 'PRIMARY', 'IN_PROGRESS', NEW_TASK_DEFINITION_ARN),
          deployment(OLD_DEPLOYMENT, 'ACTIVE', 'COMPLETED', TASK_DEFINITION_ARN),
        ),
      );

    const status = await getEcsDeploymentStatus(client, query);

    expect(status).toEqual({ operationId: NEW_DEPLOYMENT, status: 'IN_PROGRESS', finished: false });
  });

  it('reports a completed deployment as finished, with how long it took', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(
        describeServices(deployment(NEW_DEPLOYMENT, 'PRIMARY', 'COMPLETED', NEW_TASK_DEFINITION_ARN)),
      );

    const status = await getEcsDeploymentStatus(client, query);

    expect(status).toEqual({
      operationId: NEW_DEPLOYMENT,
      status: 'COMPLETED',
      finished: true,
      durationMs: 252_000,
    });
  });

  it('fails DeploymentFailed with the reason ECS gives when the circuit breaker fails the deployment', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(
        describeServices(
          deployment(
            ROLLBACK_DEPLOYMENT,
            'PRIMARY',
            'IN_PROGRESS',
            TASK_DEFINITION_ARN,
            `ECS deployment circuit breaker: rolling back to deploymentId ${OLD_DEPLOYMENT}.`,
          ),
          deployment(NEW_DEPLOYMENT, 'ACTIVE', 'FAILED', NEW_TASK_DEFINITION_ARN),
        ),
      );

    const error = await getEcsDeploymentStatus(client, query).catch((e) => e);

    expect(error.name).toBe(ErrorName.DeploymentFailed);
    expect(error.context).toEqual({
      service: SERVICE,
      operationId: NEW_DEPLOYMENT,
      status: 'FAILED',
      reason: 'ECS deployment circuit breaker: tasks failed to start.',
    });
    expect(error.message).toContain('ECS deployment circuit breaker: tasks failed to start.');
  });

  it('fails DeploymentFailed once a rollback has replaced the deployment, quoting the service event about it', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({
      services: [
        service(
          [deployment(ROLLBACK_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)],
          [
            `(service ${SERVICE}) has reached a steady state.`,
            `(service ${SERVICE}) rolling back to deployment ${OLD_DEPLOYMENT}.`,
            `(service ${SERVICE}) (deployment ${NEW_DEPLOYMENT}) deployment failed: tasks failed to start.`,
          ],
        ),
      ],
      failures: [],
      $metadata: { httpStatusCode: 200 },
    });

    const error = await getEcsDeploymentStatus(client, query).catch((e) => e);

    expect(error.name).toBe(ErrorName.DeploymentFailed);
    expect(error.context).toMatchObject({
      service: SERVICE,
      operationId: NEW_DEPLOYMENT,
      status: 'INACTIVE',
    });
    expect(error.message).toContain(`replaced by deployment ${ROLLBACK_DEPLOYMENT}`);
    expect(error.message).toContain(
      `(deployment ${NEW_DEPLOYMENT}) deployment failed: tasks failed to start.`,
    );
  });
});
