import {
  type ContainerDefinition,
  type Deployment,
  DescribeServicesCommand,
  type DescribeServicesCommandOutput,
  DescribeTaskDefinitionCommand,
  ECSClient,
  type NetworkConfiguration,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { getEcsDeploymentStatus, startEcsDeployment } from '../../../../functions/lib/deploy/ecs.ts';
import { resolveImage } from '../../../../functions/lib/deploy/image.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { ACCOUNT, DIGEST, OLD_IMAGE, REGION, REPOSITORY, SECRET_ARN } from '../../../support/aws.ts';

/** Responses shaped like the ECS API reference's (DescribeServices, DescribeTaskDefinition, …). */

const CLUSTER = 'better-call-buffet';
const SERVICE = 'better-call-buffet-web';
const SERVICE_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${CLUSTER}/${SERVICE}`;
const FAMILY = 'better-call-buffet-web';
const TASK_DEFINITION_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY}:41`;
const NEW_TASK_DEFINITION_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY}:42`;
const OLD_DEPLOYMENT = 'ecs-svc/4861023791236458109';
const NEW_DEPLOYMENT = 'ecs-svc/9023417761240561385';
const ROLLBACK_DEPLOYMENT = 'ecs-svc/1357924680135792468';
const NEW_IMAGE = `${REPOSITORY}@${DIGEST}`;
const NETWORK: NetworkConfiguration = {
  awsvpcConfiguration: {
    subnets: ['subnet-0a1b2c3d4e5f60718', 'subnet-0f1e2d3c4b5a69788'],
    securityGroups: ['sg-0123456789abcdef0'],
    assignPublicIp: 'DISABLED',
  },
};

const APP: ContainerDefinition = {
  name: 'app',
  image: OLD_IMAGE,
  cpu: 0,
  portMappings: [{ containerPort: 8000, hostPort: 8000, protocol: 'tcp', name: 'http', appProtocol: 'http' }],
  essential: true,
  environment: [
    { name: 'ENVIRONMENT', value: 'production' },
    { name: 'PORT', value: '8000' },
  ],
  mountPoints: [],
  volumesFrom: [],
  secrets: [
    { name: 'DATABASE_URL', valueFrom: `${SECRET_ARN}:url::` },
    {
      name: 'SESSION_KEY',
      valueFrom: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/better-call-buffet/session-key`,
    },
  ],
  dependsOn: [{ containerName: 'otel-collector', condition: 'START' }],
  logConfiguration: {
    logDriver: 'awslogs',
    options: {
      'awslogs-group': '/ecs/better-call-buffet-web',
      'awslogs-region': REGION,
      'awslogs-stream-prefix': 'app',
    },
    secretOptions: [],
  },
  healthCheck: {
    command: ['CMD-SHELL', 'curl -fsS http://localhost:8000/health || exit 1'],
    interval: 15,
    timeout: 5,
    retries: 3,
    startPeriod: 20,
  },
  systemControls: [],
};

const SIDECAR: ContainerDefinition = {
  name: 'otel-collector',
  image: 'public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3',
  cpu: 0,
  portMappings: [],
  essential: false,
  command: ['--config=/etc/ecs/ecs-default-config.yaml'],
  environment: [],
  mountPoints: [],
  volumesFrom: [],
  logConfiguration: {
    logDriver: 'awslogs',
    options: {
      'awslogs-group': '/ecs/better-call-buffet-web',
      'awslogs-region': REGION,
      'awslogs-stream-prefix': 'otel',
    },
    secretOptions: [],
  },
  systemControls: [],
};

/** Every field of the task definition that RegisterTaskDefinition takes back. */
const REGISTRABLE = {
  family: FAMILY,
  taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/better-call-buffet-task`,
  executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/better-call-buffet-execution`,
  networkMode: 'awsvpc',
  containerDefinitions: [APP, SIDECAR],
  volumes: [],
  placementConstraints: [],
  requiresCompatibilities: ['FARGATE'],
  cpu: '512',
  memory: '1024',
  runtimePlatform: { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' },
  enableFaultInjection: false,
} satisfies RegisterTaskDefinitionCommandInput;

/** DescribeTaskDefinition's `taskDefinition`: the registrable fields plus those ECS sets itself. */
function taskDefinition(appImage = OLD_IMAGE): TaskDefinition {
  return {
    ...REGISTRABLE,
    containerDefinitions: [{ ...APP, image: appImage }, SIDECAR],
    taskDefinitionArn: TASK_DEFINITION_ARN,
    revision: 41,
    status: 'ACTIVE',
    requiresAttributes: [
      { name: 'com.amazonaws.ecs.capability.logging-driver.awslogs' },
      { name: 'ecs.capability.execution-role-awslogs' },
      { name: 'com.amazonaws.ecs.capability.docker-remote-api.1.19' },
      { name: 'ecs.capability.secrets.asm.environment-variables' },
      { name: 'ecs.capability.secrets.ssm.environment-variables' },
      { name: 'com.amazonaws.ecs.capability.task-iam-role' },
      { name: 'ecs.capability.container-health-check' },
      { name: 'ecs.capability.container-ordering' },
      { name: 'ecs.capability.task-eni' },
    ],
    compatibilities: ['EC2', 'FARGATE'],
    registeredAt: new Date('2026-11-20T09:15:02Z'),
    registeredBy: `arn:aws:sts::${ACCOUNT}:assumed-role/better-call-buffet-release/migration-pipeline`,
  };
}

const TAGS = [
  { key: 'app', value: 'better-call-buffet' },
  { key: 'environment', value: 'production' },
];

const REASONS: Record<NonNullable<Deployment['rolloutState']>, (id: string) => string> = {
  COMPLETED: (id) => `ECS deployment ${id} completed.`,
  IN_PROGRESS: (id) => `ECS deployment ${id} in progress.`,
  FAILED: () => 'ECS deployment circuit breaker: tasks failed to start.',
};

function deployment(
  id: string,
  status: 'PRIMARY' | 'ACTIVE',
  rolloutState: NonNullable<Deployment['rolloutState']>,
  taskDefinitionArn: string,
  rolloutStateReason = REASONS[rolloutState](id),
): Deployment {
  return {
    id,
    status,
    taskDefinition: taskDefinitionArn,
    desiredCount: 2,
    pendingCount: 0,
    runningCount: rolloutState === 'COMPLETED' ? 2 : 0,
    failedTasks: rolloutState === 'FAILED' ? 3 : 0,
    createdAt: new Date('2026-11-24T10:00:00Z'),
    updatedAt: new Date('2026-11-24T10:04:12Z'),
    launchType: 'FARGATE',
    platformVersion: '1.4.0',
    platformFamily: 'Linux',
    networkConfiguration: NETWORK,
    rolloutState,
    rolloutStateReason,
  };
}

function service(deployments: Deployment[], events: string[] = []): Service {
  return {
    serviceArn: SERVICE_ARN,
    serviceName: SERVICE,
    clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`,
    loadBalancers: [
      {
        targetGroupArn: `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/better-call-buffet-web/73e2d6bc24d8a067`,
        containerName: 'app',
        containerPort: 8000,
      },
    ],
    serviceRegistries: [],
    status: 'ACTIVE',
    desiredCount: 2,
    runningCount: 2,
    pendingCount: 0,
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    platformFamily: 'Linux',
    taskDefinition: deployments.find((d) => d.status === 'PRIMARY')?.taskDefinition ?? TASK_DEFINITION_ARN,
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
      strategy: 'ROLLING',
    },
    deployments,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS`,
    events: events.map((message, index) => ({
      id: `5b9d8c2e-4f3a-4e1b-9c7d-${String(index).padStart(12, '0')}`,
      createdAt: new Date(Date.UTC(2026, 10, 24, 10, 10 - index)),
      message,
    })),
    createdAt: new Date('2025-03-01T12:00:00Z'),
    placementConstraints: [],
    placementStrategy: [],
    networkConfiguration: NETWORK,
    healthCheckGracePeriodSeconds: 30,
    schedulingStrategy: 'REPLICA',
    deploymentController: { type: 'ECS' },
    createdBy: `arn:aws:iam::${ACCOUNT}:role/better-call-buffet-infra`,
    enableECSManagedTags: true,
    propagateTags: 'NONE',
    enableExecuteCommand: false,
    availabilityZoneRebalancing: 'ENABLED',
    resourceManagementType: 'CUSTOMER',
  };
}

function describeServices(...deployments: Deployment[]): DescribeServicesCommandOutput {
  return { services: [service(deployments)], failures: [], $metadata: { httpStatusCode: 200 } };
}

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

  it('fails InvalidInput naming the containers there are when the container is not in the task definition', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolves(describeServices(deployment(OLD_DEPLOYMENT, 'PRIMARY', 'COMPLETED', TASK_DEFINITION_ARN)));
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: taskDefinition(), tags: TAGS });

    const error = await startEcsDeployment(client, { ...target, containerName: 'web' }).catch((e) => e);

    expect(error.name).toBe(ErrorName.InvalidInput);
    expect(error.context).toEqual({ field: 'containerName' });
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
