import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const execute = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A composite action's action.yml, as far as the runner reads it. */
export interface CompositeAction {
  name: string;
  description: string;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  runs: {
    using: string;
    steps: {
      name?: string;
      shell?: string;
      run?: string;
      uses?: string;
      env?: Record<string, string>;
      'working-directory'?: string;
    }[];
  };
}

export async function loadAction(name: string): Promise<{ dir: string; action: CompositeAction }> {
  const dir = join(ROOT, 'actions', name);
  return { dir, action: parse(await readFile(join(dir, 'action.yml'), 'utf8')) as CompositeAction };
}

/**
 * An app's repository after `npm ci`: package.json naming the package, and the bin link npm makes
 * (node_modules/.bin/migration-pipeline), here leading to this checkout's CLI on this Node.
 */
export async function appWithCli(): Promise<string> {
  const app = await mkdtemp(join(tmpdir(), 'action-app-'));
  // A checkout is 755, not mkdtemp's 700: as root, the embedded server's user must enter it.
  await chmod(app, 0o755);
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, devDependencies: { 'migration-pipeline': '*' } }),
  );
  await mkdir(join(app, 'node_modules', '.bin'), { recursive: true });
  const bin = join(app, 'node_modules', '.bin', 'migration-pipeline');
  await writeFile(bin, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'cli', 'bin.ts')}" "$@"\n`);
  await chmod(bin, 0o755);
  return app;
}

export interface CompositeRun {
  /** The exit status of the last step that ran (a failing step stops the job, as on GitHub). */
  code: number;
  stdout: string;
  stderr: string;
  /** What the steps appended to $GITHUB_STEP_SUMMARY. */
  summary: string;
  /** Each step's script after the runner substituted the expressions. */
  scripts: string[];
}

/**
 * Runs a composite action's steps as the GitHub runner does: `${{ inputs.* }}` and
 * `${{ github.action_path }}` substituted (any other expression fails the run: the runner would not
 * know it either), each `run` written to a file and run with `bash --noprofile --norc -eo pipefail`,
 * in the step's working-directory under `workspace`, with the step's env over `env`,
 * GITHUB_ACTIONS, GITHUB_STEP_SUMMARY and GITHUB_OUTPUT.
 */
export async function runComposite(
  name: string,
  {
    inputs,
    workspace,
    env,
  }: { inputs: Record<string, string>; workspace: string; env: Record<string, string> },
): Promise<CompositeRun> {
  const { dir, action } = await loadAction(name);
  const values = resolveInputs(action, inputs);
  const substitute = (text: string) =>
    text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_match, expression: string) => {
      if (expression === 'github.action_path') return dir;
      const input = /^inputs\.([\w-]+)$/.exec(expression)?.[1];
      if (input === undefined || !(input in values))
        throw new Error(`unknown expression \${{ ${expression} }}`);
      return values[input] as string;
    });
  const runner = await mkdtemp(join(tmpdir(), 'action-runner-'));
  const files = { GITHUB_STEP_SUMMARY: join(runner, 'summary.md'), GITHUB_OUTPUT: join(runner, 'output') };
  await Promise.all(Object.values(files).map((file) => writeFile(file, '')));
  const run: CompositeRun = { code: 0, stdout: '', stderr: '', summary: '', scripts: [] };
  for (const [index, step] of action.runs.steps.entries()) {
    if (step.run === undefined || step.shell !== 'bash')
      throw new Error(`step ${index} is not a bash run step`);
    const script = substitute(step.run);
    run.scripts.push(script);
    const scriptFile = join(runner, `step-${index}.sh`);
    await writeFile(scriptFile, script);
    const stepEnv = Object.fromEntries(
      Object.entries(step.env ?? {}).map(([key, value]) => [key, substitute(value)]),
    );
    const result = await execute('bash', ['--noprofile', '--norc', '-eo', 'pipefail', scriptFile], {
      cwd: resolve(workspace, substitute(step['working-directory'] ?? '.')),
      env: { ...env, GITHUB_ACTIONS: 'true', GITHUB_ACTION_PATH: dir, ...files, ...stepEnv },
      timeout: 120_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: unknown; stdout?: string; stderr?: string }) => ({
        code: typeof error.code === 'number' ? error.code : -1,
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? String(error),
      }),
    );
    run.stdout += result.stdout;
    run.stderr += result.stderr;
    run.code = result.code;
    if (result.code !== 0) break;
  }
  run.summary = await readFile(files.GITHUB_STEP_SUMMARY, 'utf8');
  return run;
}

function resolveInputs(action: CompositeAction, given: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(given)) {
    if (!(name in action.inputs)) throw new Error(`the action has no input "${name}"`);
  }
  return Object.fromEntries(
    Object.entries(action.inputs).map(([name, input]) => {
      const value = given[name] ?? input.default;
      if (value === undefined && input.required) throw new Error(`input "${name}" is required`);
      return [name, value ?? ''];
    }),
  );
}
