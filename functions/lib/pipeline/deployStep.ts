import type { AppRunnerClient } from '@aws-sdk/client-apprunner';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { DeployConfig } from '../config.ts';
import type { DeployEvent, PreviousDeployment } from '../contract/events.ts';
import {
  type DeploymentStarted,
  type DeploymentStatus,
  getAppRunnerOperationStatus,
  preflightAppRunner,
  startAppRunnerDeployment,
} from '../deploy/appRunner.ts';
import {
  type EcsDeploymentStatus,
  getEcsDeploymentStatus,
  preflightEcs,
  restoreEcsTaskDefinition,
  startEcsDeployment,
} from '../deploy/ecs.ts';
import { resolveImage } from '../deploy/image.ts';
import { ConfigurationInvalid, DeploymentFailed, ServiceBusy } from '../errors.ts';
import type { Clock, Log } from '../runtime.ts';
import type { MetricsRecorder } from './metrics.ts';

/** What `start` returns when no service is configured: what would have been deployed, and that nothing was. */
export interface DryRunDeployment {
  dryRun: true;
  alreadyDeployed: false;
  image: string;
  message: string;
}

export interface DeployDependencies {
  appRunner: AppRunnerClient;
  ecs: ECSClient;
  config: DeployConfig;
  clock: Clock;
  log: Log;
  metrics: MetricsRecorder;
}

const TRANSIENT = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServiceErrorException',
  'ServerException',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
  'NetworkingError',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * A throttled or failing AWS API call says nothing about the deployment. Failing the step for it
 * would send the state machine into the rollback branch while the new image may still be rolling
 * out, so it becomes `ServiceBusy`, which the state machine retries.
 */
async function retryableOnTransientErrors<T>(service: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const { name, code, $retryable, $metadata } = error as {
      name?: string;
      code?: string;
      $retryable?: unknown;
      $metadata?: { httpStatusCode?: number };
    };
    const transient =
      TRANSIENT.has(name ?? '') ||
      TRANSIENT.has(code ?? '') ||
      Boolean($retryable) ||
      ($metadata?.httpStatusCode ?? 0) >= 500;
    if (!transient) throw error;
    throw new ServiceBusy(
      `The ${service} API did not answer (${name ?? code}); the state machine retries this step.`,
      { service },
      { cause: error },
    );
  }
}

/** What the preflight found the service running: what a failed release puts back. */
export interface PreflightResult {
  /** Dry run: no service configured, so nothing will be deployed and nothing restored. */
  dryRun?: true;
  previous: PreviousDeployment;
}

type DeployStepResult =
  | PreflightResult
  | DeploymentStarted
  | DryRunDeployment
  | DeploymentStatus
  | EcsDeploymentStatus;

/**
 * `preflight` checks the deploy target before any migration runs and records what it runs now;
 * `start` puts the exact image on the service (App Runner, or ECS with DEPLOY_TARGET=ecs); `status`
 * reports a deployment on each poll; `restore` puts the service back on what the preflight recorded.
 * The state machine is the same for both targets.
 */
export async function runDeployStep(event: DeployEvent, deps: DeployDependencies): Promise<DeployStepResult> {
  const { target } = deps.config;
  const serviceLabel = target?.kind === 'ecs' ? 'ECS' : 'App Runner';
  switch (event.action) {
    case 'preflight': {
      resolveImage(event.image, deps.config.allowedRepository);
      if (!target) return { dryRun: true, previous: {} };
      const { passableRoles } = deps.config;
      const previous = await retryableOnTransientErrors<PreviousDeployment>(serviceLabel, () =>
        target.kind === 'ecs'
          ? preflightEcs(deps.ecs, { ...target, passableRoles })
          : preflightAppRunner(deps.appRunner, { serviceArn: target.serviceArn, passableRoles }),
      );
      deps.log.info('Deploy target checked', { previous });
      return { previous };
    }
    case 'start': {
      const image = resolveImage(event.image, deps.config.allowedRepository);
      if (!target) {
        const message = `Dry run: no service is configured (APP_RUNNER_SERVICE_ARN, or ECS_CLUSTER and ECS_SERVICE with DEPLOY_TARGET=ecs), so ${image.identifier} was not deployed.`;
        deps.log.info(message);
        deps.metrics.count('DeploymentsStarted', 0);
        return { dryRun: true, alreadyDeployed: false, image: image.identifier, message };
      }
      const started = await retryableOnTransientErrors(serviceLabel, () =>
        target.kind === 'ecs'
          ? startEcsDeployment(deps.ecs, { ...target, image })
          : startAppRunnerDeployment(deps.appRunner, { serviceArn: target.serviceArn, image }),
      );
      deps.metrics.count('DeploymentsStarted', started.alreadyDeployed ? 0 : 1);
      deps.log.info(started.alreadyDeployed ? 'The service already runs this image' : 'Deployment started', {
        ...started,
      });
      return withStartTime(started, deps.clock);
    }
    case 'restore': {
      if (!target) return { alreadyDeployed: true, image: 'nothing (dry run)' };
      const { previous } = event;
      const restored = await retryableOnTransientErrors(serviceLabel, () => {
        if (target.kind === 'ecs') {
          if (!previous.taskDefinition) throw nothingToRestore('task definition');
          return restoreEcsTaskDefinition(deps.ecs, { ...target, taskDefinition: previous.taskDefinition });
        }
        if (!previous.image) throw nothingToRestore('image');
        return startAppRunnerDeployment(deps.appRunner, {
          serviceArn: target.serviceArn,
          image: { identifier: previous.image },
        });
      });
      deps.metrics.count('ServicesRestored', restored.alreadyDeployed ? 0 : 1);
      deps.log.info(
        restored.alreadyDeployed
          ? 'The service already runs what it ran before the release'
          : 'Restoring the service',
        { ...restored },
      );
      return withStartTime(restored, deps.clock);
    }
    case 'status':
      return pollDeployment(event, target, deps);
  }
}

function describeDuration(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

function nothingToRestore(what: string): ConfigurationInvalid {
  return new ConfigurationInvalid(
    `The preflight recorded no ${what} to restore (the deploy target changed since?); the service is left as it is and the migrations are not reverted. Check the service by hand.`,
    { variable: 'DEPLOY_TARGET' },
  );
}

/** When a deployment started, so that the polls can give up on one that never finishes. */
function withStartTime(started: DeploymentStarted, clock: Clock): DeploymentStarted {
  return started.operationId ? { ...started, startedAt: new Date(clock.now()).toISOString() } : started;
}

async function pollDeployment(
  event: Extract<DeployEvent, { action: 'status' }>,
  target: DeployConfig['target'],
  deps: DeployDependencies,
): Promise<DeploymentStatus | EcsDeploymentStatus> {
  if (!target) {
    throw new ConfigurationInvalid(
      'A deployment status was asked for, but no service is configured to deploy to.',
      {
        variable: 'APP_RUNNER_SERVICE_ARN',
      },
    );
  }
  deps.metrics.count('DeploymentPolls');
  const status = await retryableOnTransientErrors<DeploymentStatus | EcsDeploymentStatus>(
    target.kind === 'ecs' ? 'ECS' : 'App Runner',
    () =>
      target.kind === 'ecs'
        ? getEcsDeploymentStatus(deps.ecs, {
            cluster: target.cluster,
            service: target.service,
            deploymentId: event.operationId,
          })
        : getAppRunnerOperationStatus(deps.appRunner, {
            serviceArn: target.serviceArn,
            operationId: event.operationId,
          }),
  );
  // Bounded: a deployment that never finishes (an ECS service without the circuit breaker keeps a bad
  // image IN_PROGRESS) must end in the failure branch, not in the execution's own timeout, which
  // nothing can catch and which would leave the migrations applied.
  const elapsedMs = event.startedAt ? deps.clock.now() - Date.parse(event.startedAt) : 0;
  if (!status.finished && elapsedMs > deps.config.deployTimeoutMs) {
    throw new DeploymentFailed(
      `Deployment ${event.operationId} did not finish within ${describeDuration(deps.config.deployTimeoutMs)} (still ${status.status}); ` +
        "the service is put back on what it ran before, then the release's migrations are reverted. Look at the service's deployment, and enable the ECS deployment circuit breaker.",
      {
        service: target.kind === 'ecs' ? target.service : target.serviceArn,
        operationId: event.operationId,
        status: status.status,
      },
    );
  }
  if (status.durationMs !== undefined) deps.metrics.milliseconds('DeployDuration', status.durationMs);
  return status;
}
