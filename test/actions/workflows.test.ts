import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ciSettings } from '../../cli/init/ciSettings.ts';
import { workflowYaml } from '../../cli/init/workflow.ts';
import { loadAction } from './composite.ts';

interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, { if?: string; steps: { uses?: string; with?: Record<string, string> }[] }>;
}

/**
 * Each use of one of the package's actions, with the action it names: what `with` gives must be
 * inputs the action declares, and every required input must be given.
 */
async function actionUses(workflow: Workflow, prefix: string) {
  const uses = Object.entries(workflow.jobs).flatMap(([job, { steps }]) =>
    steps
      .filter((step) => step.uses?.startsWith(prefix))
      .map((step) => ({ job, action: (step.uses as string).slice(prefix.length), given: step.with ?? {} })),
  );
  for (const use of uses) {
    const { action } = await loadAction(use.action);
    expect(Object.keys(action.inputs), `${use.action} in ${use.job}`).toEqual(
      expect.arrayContaining(Object.keys(use.given)),
    );
    const required = Object.entries(action.inputs).filter(([, input]) => input.required);
    for (const [name] of required) expect(use.given, `${use.action} in ${use.job}`).toHaveProperty(name);
  }
  return uses.map(({ job, action }) => `${job}: ${action}`);
}

describe('the workflows that use the actions', () => {
  it("this repository's release.yml: check on pull requests, release on pushes to main", async () => {
    const workflow = parse(await readFile('.github/workflows/release.yml', 'utf8')) as Workflow;

    expect(Object.keys(workflow.on)).toEqual(['pull_request', 'push', 'workflow_dispatch']);
    expect(workflow.on.push).toEqual({ branches: ['main'] });
    expect(workflow.jobs.check?.if).toBe("github.event_name == 'pull_request'");
    expect(workflow.jobs.release?.if).toBe("github.event_name != 'pull_request' && vars.AWS_ROLE_ARN != ''");
    expect(await actionUses(workflow, './actions/')).toEqual(['check: check', 'release: release']);
  });

  it("the app's workflow that init writes, with the package's actions from node_modules", async () => {
    const settings = await ciSettings('/nonexistent/app', 'db/migrations', { stack: 'pipeline' }, {});
    const workflow = parse(workflowYaml(settings)) as Workflow;

    expect(await actionUses(workflow, './node_modules/migration-pipeline/actions/')).toEqual([
      'check: check',
      'release: release',
    ]);
  });
});
