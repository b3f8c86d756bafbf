import { userInfo } from 'node:os';
import { type PipelineInput, parsePipelineInput } from '../../functions/lib/contract/events.ts';
import { InvalidInput } from '../../functions/lib/errors.ts';
import { systemClock } from '../../functions/lib/runtime.ts';
import { parse } from '../args.ts';
import { type CliIo, ExitCode, UsageError } from '../io.ts';
import { printJson } from '../output.ts';
import { reportToGithub } from '../progress/github.ts';
import { formatSummary, ReleaseReporter } from '../progress/reporter.ts';
import { consoleUrlFor, releaseExecutionName } from '../release/executionName.ts';
import { followExecution, startRelease } from '../release/start.ts';
import { durationFlag, PIPELINE_OPTIONS, sfnClientFor, stateMachineArnFrom } from './pipelineSupport.ts';

export const usage = `Usage: migration-pipeline start --image URI [--wait] [options]

Starts a release of the image on the deployed pipeline. The execution is named after the image (tag
and digest), so a CI job that is re-run attaches to its release instead of starting a second one.

  --image URI               123456789012.dkr.ecr.<region>.amazonaws.com/app@sha256:... (or :tag)
  --digest sha256:...       the digest, if not in the URI (recommended: deploys exactly that image)
  --tag TAG                 the tag, if not in the URI
  --source NAME             who starts it (default: "ci" under CI, else your user name)
  --dry-run                 check connectivity and report the plan; change nothing
  --new                     start a fresh execution even if this image was released before
  --state-machine-arn ARN   the pipeline (or STATE_MACHINE_ARN, or --stack NAME: the SAM stack's output)
  --region REGION           the stack's region (or AWS_REGION); an ARN names its own
  --wait                    follow it to the end: one line per state, then the migrations table
  --timeout 60min           stop waiting after this long (exit status 3; the release goes on)
  --poll 5s                 how often to read the execution's history
  --json                    one JSON document instead of the lines

Exit status: 0 succeeded (or started, without --wait), 1 failed (rolled back), 2 bad usage, 3 timed out waiting.
Under GitHub Actions it adds an ::error:: or ::notice:: annotation and a job summary.
`;

export async function startCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    ...PIPELINE_OPTIONS,
    image: { type: 'string' },
    digest: { type: 'string' },
    tag: { type: 'string' },
    source: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    new: { type: 'boolean', default: false },
    wait: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    poll: { type: 'string' },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  if (!values.image) throw new UsageError('--image is required: the image to release.');
  const input = pipelineInput(values, io.env);
  const timeoutMs = durationFlag(values.timeout, 'timeout', 3_600_000);
  const pollMs = durationFlag(values.poll, 'poll', 5_000);
  const stateMachineArn = await stateMachineArnFrom(values, io);
  const sfn = sfnClientFor(stateMachineArn);
  // A dry run or --new gets a name of its own: a later real release must not attach to it.
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const suffix = values['dry-run'] ? `dryrun-${stamp}` : values.new ? stamp : undefined;
  const name = releaseExecutionName(input.image, suffix ? { suffix } : {});

  const started = await startRelease(sfn, { stateMachineArn, name, input });
  const consoleUrl = consoleUrlFor(started.executionArn);
  const log = values.json ? () => {} : io.stdout;
  log(
    started.attached
      ? `Attached to ${name}, which already exists for this image (status ${started.status}): a re-run does not release twice.\n`
      : `Started ${name}\n`,
  );
  log(`  ${consoleUrl}\n`);
  if (!values.wait) {
    if (values.json)
      printJson(io, {
        executionArn: started.executionArn,
        name,
        attached: started.attached,
        status: started.status,
      });
    return ExitCode.ok;
  }

  const reporter = new ReleaseReporter({ write: io.stdout, tty: io.tty, quiet: values.json });
  const followed = await followExecution(sfn, started.executionArn, {
    onEvent: (event) => reporter.handle(event),
    pollMs,
    timeoutMs,
    clock: systemClock,
  });
  const summary = reporter.result();
  if (values.json) {
    printJson(io, {
      executionArn: started.executionArn,
      name,
      attached: started.attached,
      timedOut: followed.timedOut,
      ...summary,
      status: followed.status,
    });
  } else if (followed.timedOut) {
    io.stdout(
      `\nStopped waiting after ${values.timeout ?? '60min'}; the release is still running.\n  ${consoleUrl}\n`,
    );
  } else {
    io.stdout(formatSummary(summary, consoleUrl));
    if (started.attached && summary.status === 'FAILED') {
      io.stdout(
        `This image's release had already failed. Redrive it: migration-pipeline redrive ${started.executionArn}\nor start anew: add --new.\n`,
      );
    }
  }
  // With --json, stdout is one JSON document: the annotation goes to stderr, which the runner reads too.
  await reportToGithub(summary, io.env, values.json ? io.stderr : io.stdout, consoleUrl);
  if (followed.timedOut) return ExitCode.timedOut;
  return followed.status === 'SUCCEEDED' ? ExitCode.ok : ExitCode.failed;
}

function pipelineInput(
  values: { image?: string; digest?: string; tag?: string; source?: string; 'dry-run'?: boolean },
  env: Record<string, string | undefined>,
): PipelineInput {
  try {
    return parsePipelineInput({
      image: {
        uri: values.image,
        ...(values.digest ? { digest: values.digest } : {}),
        ...(values.tag ? { tag: values.tag } : {}),
      },
      source: values.source ?? (env.CI ? 'ci' : safeUserName()),
      ...(values['dry-run'] ? { dryRun: true } : {}),
    });
  } catch (error) {
    if (error instanceof InvalidInput) throw new UsageError(namingTheFlag(error));
    throw error;
  }
}

/** The flag behind each field of the pipeline's input. */
const INPUT_FLAGS: Record<string, string> = {
  'input.image.uri': '--image',
  'input.image.digest': '--digest',
  'input.image.tag': '--tag',
  'input.source': '--source',
};

/** The input's messages start with the field ("input.image.uri must be ..."): a person typed the flag. */
function namingTheFlag(error: InvalidInput): string {
  const { field } = error.context;
  const flag = INPUT_FLAGS[field];
  return flag && error.message.startsWith(field)
    ? `${flag}${error.message.slice(field.length)}`
    : error.message;
}

function safeUserName(): string {
  try {
    return userInfo().username || 'cli';
  } catch {
    return 'cli';
  }
}
