import type { AppRunnerClient } from '@aws-sdk/client-apprunner';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { DeployConfig } from '../config.ts';
import {
  type DeploymentStarted,
  type DeploymentStatus,
  getAppRunnerOperationStatus,
  startAppRunnerDeployment,
} from '../deploy/appRunner.ts';
import { type EcsDeploymentStatus, getEcsDeploymentStatus, startEcsDeployment } from '../deploy/ecs.ts';
import { resolveImage } from '../deploy/image.ts';
import { ConfigurationInvalid } from '../errors.ts';
import type { Log } from '../migrations/types.ts';
import type { DeployEvent } from './events.ts';
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
  log: Log;
  metrics: MetricsRecorder;
}

/**
 * `start` puts the exact image on the service (App Runner, or ECS with DEPLOY_TARGET=ecs); `status`
 * reports the deployment on each poll. The state machine is the same for both.
 */
export async function runDeployStep(
  event: DeployEvent,
  deps: DeployDependencies,
): Promise<DeploymentStarted | DryRunDeployment | DeploymentStatus | EcsDeploymentStatus> {
  const { target } = deps.config;
  if (event.action === 'start') {
    const image = resolveImage(event.image, deps.config.allowedRepository);
    if (!target) {
      const message = `Dry run: no service is configured (APP_RUNNER_SERVICE_ARN, or ECS_CLUSTER and ECS_SERVICE with DEPLOY_TARGET=ecs), so ${image.identifier} was not deployed.`;
      deps.log.info(message);
      deps.metrics.count('DeploymentsStarted', 0);
      return { dryRun: true, alreadyDeployed: false, image: image.identifier, message };
    }
    const started =
      target.kind === 'ecs'
        ? await startEcsDeployment(deps.ecs, { ...target, image })
        : await startAppRunnerDeployment(deps.appRunner, { serviceArn: target.serviceArn, image });
    deps.metrics.count('DeploymentsStarted', started.alreadyDeployed ? 0 : 1);
    deps.log.info(started.alreadyDeployed ? 'The service already runs this image' : 'Deployment started', {
      ...started,
    });
    return started;
  }
  if (!target) {
    throw new ConfigurationInvalid(
      'A deployment status was asked for, but no service is configured to deploy to.',
      {
        variable: 'APP_RUNNER_SERVICE_ARN',
      },
    );
  }
  deps.metrics.count('DeploymentPolls');
  const status =
    target.kind === 'ecs'
      ? await getEcsDeploymentStatus(deps.ecs, {
          cluster: target.cluster,
          service: target.service,
          deploymentId: event.operationId,
        })
      : await getAppRunnerOperationStatus(deps.appRunner, {
          serviceArn: target.serviceArn,
          operationId: event.operationId,
        });
  if (status.durationMs !== undefined) deps.metrics.milliseconds('DeployDuration', status.durationMs);
  return status;
}
