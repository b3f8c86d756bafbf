import { AppRunnerClient } from '@aws-sdk/client-apprunner';
import { ECSClient } from '@aws-sdk/client-ecs';
import { readDeployConfig } from '../lib/config.ts';
import { parseDeployEvent } from '../lib/contract/events.ts';
import { log, once, pipelineHandler } from '../lib/lambda.ts';
import { runDeployStep } from '../lib/pipeline/deployStep.ts';
import { systemClock } from '../lib/runtime.ts';

const config = once(() => readDeployConfig(process.env));
const appRunner = new AppRunnerClient({});
const ecs = new ECSClient({});

/** `{ action: "start", image }` deploys the exact image to App Runner or ECS; `{ action: "status", operationId }` reports the operation. */
export const handler = pipelineHandler('deploy', async (event, _context, metrics) => {
  const request = parseDeployEvent(event);
  return runDeployStep(request, { appRunner, ecs, config: config(), clock: systemClock, log, metrics });
});
