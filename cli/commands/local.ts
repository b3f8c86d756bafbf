import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AppRunnerClient } from '@aws-sdk/client-apprunner';
import { directoryBundleStore } from '../../functions/lib/bundle/store.ts';
import { describeTarget } from '../../functions/lib/db/connection.ts';
import { parseImageReference } from '../../functions/lib/deploy/image.ts';
import { parse } from '../args.ts';
import { withCliDatabase } from '../database.ts';
import { type CliIo, ExitCode, UsageError } from '../io.ts';
import { folderResolveHandler } from '../local/folderRelease.ts';
import { loadHandlers } from '../local/handlers.ts';
import { startLocalExecution } from '../local/stateMachine.ts';
import { printJson } from '../output.ts';
import { LocalEventTranslator } from '../progress/events.ts';
import { formatSummary, ReleaseReporter } from '../progress/reporter.ts';

/** The Task states of a release's way forward: the ones `--fail-at` can fail. */
const FORWARD_STATES = ['CheckConnectivity', 'PreflightDeploy', 'Migrate', 'Deploy', 'PollDeployment'];

export const usage = `Usage: migration-pipeline local [--image URI] [--dir migrations] [--fail-at STATE] [--dry-run] [--json]

Runs the real statemachine/pipeline.asl.json on this machine: every Task runs the real handler code
in-process, against the embedded PostgreSQL (or DATABASE_URL), with these credentials instead of
Secrets Manager. Waits and retry intervals are shortened, not skipped. The deploy step deploys for
real only when its service is configured (APP_RUNNER_SERVICE_ARN; with --target ecs, ECS_CLUSTER,
ECS_SERVICE and ECS_CONTAINER_NAME) and AWS credentials are found; otherwise it is a dry run that says
what it would have deployed.

  --image URI        the image to release (default ${'000000000000.dkr.ecr.us-east-1.amazonaws.com/app:local'}).
                     Without --dir, its migrations are read from the image in its registry (plain
                     HTTP only for a registry on this machine), as the pipeline reads them in AWS
  --dir DIR          read the migrations from this folder instead (default migrations/ when no
                     --image is given)
  --fail-at STATE    make ${FORWARD_STATES.join(', ')} fail, to watch the failure branch
  --dry-run          check connectivity and report the plan; change nothing
  --target T         apprunner (default) or ecs: the deploy target, as the DeployTarget parameter

Exit status: 0 the release succeeded, 1 it failed (the rollback branch ran), 2 bad usage.
`;

const DEFAULT_IMAGE = '000000000000.dkr.ecr.us-east-1.amazonaws.com/app:local';
const FAILABLE: readonly string[] = FORWARD_STATES;

export async function localCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    image: { type: 'string' },
    dir: { type: 'string' },
    'fail-at': { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    target: { type: 'string', default: 'apprunner' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const failAt = values['fail-at'];
  if (failAt !== undefined && !FAILABLE.includes(failAt)) {
    throw new UsageError(`--fail-at must name one of ${FAILABLE.join(', ')}; got "${failAt}".`);
  }
  const image = values.image ?? DEFAULT_IMAGE;
  const repository = parseImageReference(image)?.repository ?? image;
  // An image given without a folder is read from its registry, as the pipeline does in AWS.
  const fromImage = values.image !== undefined && values.dir === undefined;
  const migrationsDir = resolve(io.cwd, values.dir ?? 'migrations');
  const bundleDir = join(tmpdir(), 'migration-pipeline-bundles');
  if (values.target !== 'apprunner' && values.target !== 'ecs') {
    throw new UsageError(`--target must be apprunner or ecs; got "${values.target}".`);
  }
  const deployTarget = await deployTargetFor(values.target, io.env);
  if (failAt === 'PollDeployment' && deployTarget.env.DEPLOY_DRY_RUN === 'true') {
    throw new UsageError(
      `--fail-at PollDeployment needs a real deployment: in a dry run (${deployTarget.description}) the state machine never polls.`,
    );
  }

  return withCliDatabase(io, async (url) => {
    const say = values.json ? () => {} : io.stdout;
    say(
      `Local run of statemachine/pipeline.asl.json\n  image      ${image}\n  migrations ${fromImage ? 'read from the image' : migrationsDir}\n` +
        `  database   ${describeTarget(url)}\n  deploy     ${deployTarget.description}\n\n`,
    );
    const handlers = await loadHandlers({
      // The URL carries the TLS this command chose: the handlers must not apply the shell's DATABASE_TLS again.
      DATABASE_URL: url,
      DATABASE_TLS: '',
      DATABASE_CA_BUNDLE: '',
      BUNDLE_DIR: bundleDir,
      ECR_REPOSITORY_URI: io.env.ECR_REPOSITORY_URI || repository,
      ...deployTarget.env,
    });
    if (!fromImage) {
      handlers.resolveImage = folderResolveHandler(
        migrationsDir,
        directoryBundleStore(bundleDir),
        io.env.ECR_REPOSITORY_URI || repository,
      );
    }
    const notifications: string[] = [];
    handlers.notify = ({ Subject }) => {
      notifications.push(Subject);
    };

    const input = {
      image: { uri: image },
      source: 'local',
      ...(values['dry-run'] ? { dryRun: true } : {}),
    };
    const execution = await startLocalExecution(input, handlers, {
      waitMs: 500,
      retryMs: 500,
      ...(failAt ? { failAt } : {}),
    });
    const reporter = new ReleaseReporter({ write: io.stdout, tty: io.tty, quiet: values.json });
    const translator = new LocalEventTranslator(execution.lastFailure);
    for await (const event of execution.eventLogs) {
      for (const progress of translator.translate(event as never)) reporter.handle(progress);
    }
    await execution.result.catch(() => {});
    const summary = reporter.result();
    if (values.json) printJson(io, { executionArn: execution.executionArn, ...summary });
    else {
      io.stdout(formatSummary(summary));
      for (const subject of notifications)
        io.stdout(`\nNotification "${subject}" (SNS; not sent from a local run).\n`);
    }
    return summary.status === 'SUCCEEDED' ? ExitCode.ok : ExitCode.failed;
  });
}

/**
 * A real deployment needs a service and credentials; without either, the deploy step is a dry run,
 * and the run says which is missing. Returns the deploy function's environment for the target.
 */
async function deployTargetFor(
  target: 'apprunner' | 'ecs',
  env: Record<string, string | undefined>,
): Promise<{ env: Record<string, string>; description: string }> {
  const dryRun = (why: string) => ({
    env: {
      DEPLOY_TARGET: target,
      DEPLOY_DRY_RUN: 'true',
      APP_RUNNER_SERVICE_ARN: '',
      ECS_CLUSTER: '',
      ECS_SERVICE: '',
    },
    description: `dry run on ${target === 'ecs' ? 'ECS' : 'App Runner'} (${why})`,
  });
  const configured: { env: Record<string, string>; description: string } | undefined =
    target === 'ecs'
      ? env.ECS_CLUSTER && env.ECS_SERVICE
        ? {
            env: {
              DEPLOY_TARGET: 'ecs',
              ECS_CLUSTER: env.ECS_CLUSTER,
              ECS_SERVICE: env.ECS_SERVICE,
              ECS_CONTAINER_NAME: env.ECS_CONTAINER_NAME || 'app',
            },
            description: `ECS service ${env.ECS_SERVICE} in cluster ${env.ECS_CLUSTER} (for real)`,
          }
        : undefined
      : env.APP_RUNNER_SERVICE_ARN
        ? {
            env: { DEPLOY_TARGET: 'apprunner', APP_RUNNER_SERVICE_ARN: env.APP_RUNNER_SERVICE_ARN },
            description: `App Runner service ${env.APP_RUNNER_SERVICE_ARN} (for real)`,
          }
        : undefined;
  if (!configured)
    return dryRun(
      target === 'ecs' ? 'no ECS_CLUSTER and ECS_SERVICE configured' : 'no APP_RUNNER_SERVICE_ARN configured',
    );
  try {
    await new AppRunnerClient({}).config.credentials();
    return configured;
  } catch {
    return dryRun('a service is configured, but no AWS credentials were found');
  }
}
