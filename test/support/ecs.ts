import type {
  ContainerDefinition,
  Deployment,
  DescribeServicesCommandOutput,
  NetworkConfiguration,
  RegisterTaskDefinitionCommandInput,
  Service,
  TaskDefinition,
} from '@aws-sdk/client-ecs';
import { ACCOUNT, DIGEST, OLD_IMAGE, REGION, REPOSITORY, SECRET_ARN } from './aws.ts';

/** Responses shaped like the ECS API reference's (DescribeServices, DescribeTaskDefinition, …). */

export const CLUSTER = 'better-call-buffet';
export const SERVICE = 'better-call-buffet-web';
export const SERVICE_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${CLUSTER}/${SERVICE}`;
export const FAMILY = 'better-call-buffet-web';
export const TASK_DEFINITION_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY}:41`;
export const NEW_TASK_DEFINITION_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${FAMILY}:42`;
export const OLD_DEPLOYMENT = 'ecs-svc/4861023791236458109';
export const NEW_DEPLOYMENT = 'ecs-svc/9023417761240561385';
export const ROLLBACK_DEPLOYMENT = 'ecs-svc/1357924680135792468';
export const NEW_IMAGE = `${REPOSITORY}@${DIGEST}`;
export const NETWORK: NetworkConfiguration = {
  awsvpcConfiguration: {
    subnets: ['subnet-0a1b2c3d4e5f60718', 'subnet-0f1e2d3c4b5a69788'],
    securityGroups: ['sg-0123456789abcdef0'],
    assignPublicIp: 'DISABLED',
  },
};

export const APP: ContainerDefinition = {
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

export const SIDECAR: ContainerDefinition = {
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
export const REGISTRABLE = {
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
export function taskDefinition(appImage = OLD_IMAGE): TaskDefinition {
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

export const TAGS = [
  { key: 'app', value: 'better-call-buffet' },
  { key: 'environment', value: 'production' },
];

export const REASONS: Record<NonNullable<Deployment['rolloutState']>, (id: string) => string> = {
  COMPLETED: (id) => `ECS deployment ${id} completed.`,
  IN_PROGRESS: (id) => `ECS deployment ${id} in progress.`,
  FAILED: () => 'ECS deployment circuit breaker: tasks failed to start.',
};

export function deployment(
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

export function service(deployments: Deployment[], events: string[] = []): Service {
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

export function describeServices(...deployments: Deployment[]): DescribeServicesCommandOutput {
  return { services: [service(deployments)], failures: [], $metadata: { httpStatusCode: 200 } };
}
