import { appendFile } from 'node:fs/promises';

/**
 * GitHub Actions' workflow commands and job summary, for what the CLI reports to a run
 * (`start --wait`, `check --github`).
 */

/** Workflow-command escaping of a message. */
export const escapeData = (text: string) =>
  text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

/** Workflow-command escaping of a property (`title=`, `file=`), which also escapes `:` and `,`. */
export const escapeProperty = (text: string) => escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** Appends Markdown to the job summary when the runner gives its file ($GITHUB_STEP_SUMMARY). */
export async function appendStepSummary(
  env: Record<string, string | undefined>,
  markdown: string,
): Promise<void> {
  if (env.GITHUB_STEP_SUMMARY) await appendFile(env.GITHUB_STEP_SUMMARY, markdown);
}
