import { systemClock } from '../../functions/lib/runtime.ts';
import { parse } from '../args.ts';
import { type CliIo, ExitCode, UsageError } from '../io.ts';
import { printJson } from '../output.ts';
import { reportToGithub } from '../progress/github.ts';
import { formatSummary, ReleaseReporter } from '../progress/reporter.ts';
import { consoleUrlFor } from '../release/executionName.ts';
import { executionArnOf, redriveRelease } from '../release/inspect.ts';
import { followExecution } from '../release/start.ts';
import { durationFlag, PIPELINE_OPTIONS, sfnClientFor, stateMachineArnFrom } from './pipelineSupport.ts';

export const usage = `Usage: migration-pipeline redrive <execution> [--wait] [--timeout 60min] [--json]

Redrives a failed, timed-out or aborted release from the state that failed (Step Functions'
RedriveExecution, within 14 days). Its run id stays the same, so its rollback still reverts exactly
what it applied. Exit status as for "start". An execution named without its ARN is looked up under
--state-machine-arn, STATE_MACHINE_ARN, or --stack NAME (in --region REGION or AWS_REGION).
`;

export async function redriveCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...PIPELINE_OPTIONS,
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      poll: { type: 'string' },
    },
    true,
  );
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const [execution] = positionals;
  if (!execution) throw new UsageError('Name the execution to redrive (its name or ARN).');
  const stateMachineArn = execution.startsWith('arn:') ? undefined : await stateMachineArnFrom(values, io);
  const executionArn = executionArnOf(execution, stateMachineArn);
  const sfn = sfnClientFor(executionArn);
  const { redriveDate } = await redriveRelease(sfn, executionArn);
  const consoleUrl = consoleUrlFor(executionArn);
  if (!values.json) io.stdout(`Redrove ${executionArn} at ${redriveDate}\n  ${consoleUrl}\n`);
  if (!values.wait) {
    if (values.json) printJson(io, { executionArn, redriveDate });
    return ExitCode.ok;
  }
  const reporter = new ReleaseReporter({ write: io.stdout, tty: io.tty, quiet: values.json });
  const followed = await followExecution(sfn, executionArn, {
    onEvent: (event) => reporter.handle(event),
    pollMs: durationFlag(values.poll, 'poll', 5_000),
    timeoutMs: durationFlag(values.timeout, 'timeout', 3_600_000),
    clock: systemClock,
  });
  const summary = reporter.result();
  if (values.json)
    printJson(io, {
      executionArn,
      redriveDate,
      timedOut: followed.timedOut,
      ...summary,
      status: followed.status,
    });
  else if (!followed.timedOut) io.stdout(formatSummary(summary, consoleUrl));
  await reportToGithub(summary, io.env, io.stdout, consoleUrl);
  if (followed.timedOut) return ExitCode.timedOut;
  return followed.status === 'SUCCEEDED' ? ExitCode.ok : ExitCode.failed;
}
