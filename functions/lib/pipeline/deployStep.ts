import type { AppRunnerClient } from '@aws-sdk/client-apprunner';
import type { DeployConfig } from '../config.ts';
import {
  type DeploymentStarted,
  type DeploymentStatus,
  getAppRunnerOperationStatus,
  startAppRunnerDeployment,
} from '../deploy/appRunner.ts';
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
  config: DeployConfig;
  log: Log;
  metrics: MetricsRecorder;
}

/** `start` puts the exact image on the service; `status` reports the operation on each poll. */
export async function runDeployStep(
  event: DeployEvent,
  deps: DeployDependencies,
): Promise<DeploymentStarted | DryRunDeployment | DeploymentStatus> {
  const serviceArn = deps.config.appRunnerServiceArn;
  if (event.action === 'start') {
    const image = resolveImage(event.image, deps.config.allowedRepository);
    if (!serviceArn) {
      const message = `Dry run: no App Runner service is configured (APP_RUNNER_SERVICE_ARN), so ${image.identifier} was not deployed.`;
      deps.log.info(message);
      deps.metrics.count('DeploymentsStarted', 0);
      return { dryRun: true, alreadyDeployed: false, image: image.identifier, message };
    }
    const started = await startAppRunnerDeployment(deps.appRunner, { serviceArn, image });
    deps.metrics.count('DeploymentsStarted', started.alreadyDeployed ? 0 : 1);
    deps.log.info(started.alreadyDeployed ? 'The service already runs this image' : 'Deployment started', {
      ...started,
    });
    return started;
  }
  if (!serviceArn) {
    throw new ConfigurationInvalid(
      'A deployment status was asked for, but no App Runner service is configured (APP_RUNNER_SERVICE_ARN).',
      {
        variable: 'APP_RUNNER_SERVICE_ARN',
      },
    );
  }
  const status = await getAppRunnerOperationStatus(deps.appRunner, {
    serviceArn,
    operationId: event.operationId,
  });
  if (status.durationMs !== undefined) deps.metrics.milliseconds('DeployDuration', status.durationMs);
  return status;
}
