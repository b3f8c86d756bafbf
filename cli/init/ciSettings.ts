import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../io.ts';
import { STATE_MACHINE_ARN } from '../release/locate.ts';

/** What the workflow and the IAM guide name: where the image goes and which pipeline releases it. */
export interface CiSettings {
  /** The migrations folder, relative to the repository root. */
  migrationsDir: string;
  /** Pushes to this branch release. */
  branch: string;
  region: string;
  ecrRepository: string;
  /** The pipeline: its SAM stack, or its state machine's ARN. */
  pipeline: { stack: string } | { stateMachineArn: string };
  /** owner/name on GitHub, which the role's trust policy admits; undefined when it cannot be told. */
  githubRepository?: string;
  /** Where the workflow finds the actions: the installed package's folder. */
  actionsPath: string;
}

export interface CiFlags {
  branch?: string;
  region?: string;
  'ecr-repository'?: string;
  stack?: string;
  'state-machine-arn'?: string;
  'github-repository'?: string;
}

/** The actions as the app's checkout holds them after `npm ci`: local path actions need no repository address. */
export const INSTALLED_ACTIONS_PATH = './node_modules/migration-pipeline/actions';

/**
 * The settings from the flags, each checked (they are written into YAML and JSON policies, so only
 * their own characters may pass), with defaults that need no flag: branch main, AWS_REGION or
 * us-east-1, the repository folder's name as the ECR repository, stack migration-pipeline, and the
 * GitHub repository from the `origin` remote.
 */
export async function ciSettings(
  root: string,
  migrationsDir: string,
  flags: CiFlags,
  env: Record<string, string | undefined>,
): Promise<CiSettings> {
  if (flags.stack !== undefined && flags['state-machine-arn'] !== undefined) {
    throw new UsageError('Give --stack or --state-machine-arn, not both: the workflow starts one pipeline.');
  }
  const branch = checked(
    flags.branch ?? 'main',
    '--branch',
    /^[A-Za-z0-9._/-]{1,200}$/,
    'a branch name like main',
  );
  const region = checked(
    flags.region ?? env.AWS_REGION ?? 'us-east-1',
    flags.region === undefined ? 'AWS_REGION' : '--region',
    /^[a-z]{2}(-[a-z]+)+-\d$/,
    'a region like us-east-2',
  );
  const ecrRepository = checked(
    flags['ecr-repository'] ?? repositoryNameFrom(root),
    '--ecr-repository',
    /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
    'an ECR repository name like my-app (lower case)',
  );
  const pipeline =
    flags['state-machine-arn'] === undefined
      ? {
          stack: checked(
            flags.stack ?? 'migration-pipeline',
            '--stack',
            /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
            'a CloudFormation stack name',
          ),
        }
      : {
          stateMachineArn: checked(
            flags['state-machine-arn'],
            '--state-machine-arn',
            STATE_MACHINE_ARN,
            'arn:aws:states:<region>:<account>:stateMachine:<name>',
          ),
        };
  const githubRepository =
    flags['github-repository'] === undefined
      ? await originRepository(root)
      : checked(flags['github-repository'], '--github-repository', /^[\w.-]+\/[\w.-]+$/, 'owner/name');
  return {
    migrationsDir,
    branch,
    region,
    ecrRepository,
    pipeline,
    ...(githubRepository ? { githubRepository } : {}),
    actionsPath: INSTALLED_ACTIONS_PATH,
  };
}

function checked(value: string, source: string, pattern: RegExp, expected: string): string {
  if (!pattern.test(value)) {
    throw new UsageError(`${source} must be ${expected}, got "${value.slice(0, 200)}".`);
  }
  return value;
}

/** The repository folder's name, as an ECR repository name may be written. */
function repositoryNameFrom(root: string): string {
  const name = basename(root)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '');
  return name || 'app';
}

/** owner/name of the `origin` remote when it is on GitHub (https or ssh), from .git/config. */
async function originRepository(root: string): Promise<string | undefined> {
  const config = await readFile(join(root, '.git', 'config'), 'utf8').catch(() => undefined);
  const origin = config && /\[remote "origin"\]([^[]*)/.exec(config)?.[1];
  const url = origin && /^\s*url\s*=\s*(\S+)/m.exec(origin)?.[1];
  return url ? /github\.com[:/]([\w.-]+\/[\w.-]+?)(?:\.git)?\/?$/.exec(url)?.[1] : undefined;
}
