import { appendStepSummary, escapeData, escapeProperty } from '../githubActions.ts';
import { formatDuration } from '../output.ts';
import { migrationResults, type ReleaseSummary } from './reporter.ts';

/** The `::error::`/`::notice::` annotation GitHub Actions shows on the run for this release. */
function githubAnnotation(summary: ReleaseSummary, consoleUrl?: string): string {
  const link = consoleUrl ? `\n${consoleUrl}` : '';
  if (summary.status === 'SUCCEEDED') {
    const title = summary.dryRun ? 'Release dry run' : 'Release succeeded';
    const migrations = summary.dryRun
      ? `${summary.pending.length} migration(s) pending`
      : `${summary.applied.length} migration(s) applied`;
    return `::notice title=${escapeProperty(title)}::${escapeData(`${migrations}${summary.image ? `; image ${summary.image}` : ''}${link}`)}\n`;
  }
  const title = `Release failed${summary.failedState ? ` in ${summary.failedState}` : ''}`;
  const rolledBack = summary.reverted.length > 0 ? `\nReverted: ${summary.reverted.join(', ')}` : '';
  return `::error title=${escapeProperty(title)}::${escapeData(`${summary.error}: ${summary.cause ?? ''}${rolledBack}${link}`)}\n`;
}

/** Markdown for the job summary: the states and the migrations. */
function stepSummaryMarkdown(summary: ReleaseSummary, consoleUrl?: string): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const icon = { succeeded: '✅', failed: '❌', running: '⏳' };
  const lines = [
    `### Release ${summary.status === 'SUCCEEDED' ? (summary.dryRun ? 'dry run ✅' : 'succeeded ✅') : summary.status === 'FAILED' ? 'failed ❌' : 'running ⏳'}`,
    '',
  ];
  if (summary.status === 'FAILED')
    lines.push(`**${cell(summary.error ?? '')}**: ${cell(summary.cause ?? '')}`, '');
  lines.push('| State | | Duration | Retries | Detail |', '| --- | --- | --- | --- | --- |');
  for (const state of summary.states) {
    lines.push(
      `| ${state.name} | ${icon[state.status]} | ${formatDuration(state.durationMs)} | ${state.retries} | ${cell(state.detail ?? '')} |`,
    );
  }
  const migrations = [
    ...migrationResults(summary),
    ...(summary.dryRun ? summary.pending.map((name) => [name, 'pending']) : []),
  ];
  lines.push('', migrations.length === 0 ? 'No migration was applied.' : '| Migration | Result |');
  if (migrations.length > 0)
    lines.push('| --- | --- |', ...migrations.map(([name, result]) => `| ${cell(name ?? '')} | ${result} |`));
  if (consoleUrl) lines.push('', `[Execution in the Step Functions console](${consoleUrl})`);
  return `${lines.join('\n')}\n`;
}

/** Under GitHub Actions: prints the annotation and appends the job summary. Elsewhere: nothing. */
export async function reportToGithub(
  summary: ReleaseSummary,
  env: Record<string, string | undefined>,
  write: (text: string) => void,
  consoleUrl?: string,
): Promise<void> {
  if (env.GITHUB_ACTIONS !== 'true') return;
  write(githubAnnotation(summary, consoleUrl));
  await appendStepSummary(env, stepSummaryMarkdown(summary, consoleUrl));
}
