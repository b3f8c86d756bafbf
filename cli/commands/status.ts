import { parse } from '../args.ts';
import { type CliIo, ExitCode } from '../io.ts';
import { printJson, table } from '../output.ts';
import { formatSummary, ReleaseReporter } from '../progress/reporter.ts';
import { consoleUrlFor } from '../release/executionName.ts';
import { executionArnOf, listReleases, replayExecution } from '../release/inspect.ts';
import { PIPELINE_OPTIONS, sfnClientFor, stateMachineArnFrom } from './pipelineSupport.ts';

export const usage = `Usage: migration-pipeline status [execution] [--state-machine-arn ARN | --stack NAME [--region REGION]] [--json]

Without an execution: the pipeline's recent releases. With one (name or ARN): its states, what each
did, and how it ended.
`;

export async function pipelineStatusCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, PIPELINE_OPTIONS, true);
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  const [execution] = positionals;
  if (execution === undefined) {
    const stateMachineArn = await stateMachineArnFrom(values, io);
    const releases = await listReleases(sfnClientFor(stateMachineArn), stateMachineArn);
    if (values.json) printJson(io, { releases });
    else {
      io.stdout(
        releases.length === 0
          ? 'No releases yet.\n'
          : table(
              ['NAME', 'STATUS', 'STARTED', 'STOPPED'],
              releases.map((r) => [
                r.name,
                `${r.status ?? ''}${r.redriveCount ? ` (redriven ${r.redriveCount}x)` : ''}`,
                r.startDate ?? '',
                r.stopDate ?? '',
              ]),
            ),
      );
    }
    return ExitCode.ok;
  }
  const stateMachineArn = execution.startsWith('arn:') ? undefined : await stateMachineArnFrom(values, io);
  const executionArn = executionArnOf(execution, stateMachineArn);
  const reporter = new ReleaseReporter({ write: io.stdout, tty: false, quiet: values.json });
  const status = await replayExecution(sfnClientFor(executionArn), executionArn, (event) =>
    reporter.handle(event),
  );
  const summary = reporter.result();
  if (values.json) printJson(io, { executionArn, ...summary, status });
  else
    io.stdout(
      `${status === 'RUNNING' ? '\nStill running.\n' : formatSummary(summary, consoleUrlFor(executionArn))}`,
    );
  return ExitCode.ok;
}
