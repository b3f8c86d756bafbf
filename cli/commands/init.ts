import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse } from '../args.ts';
import { INSTALLED_ACTIONS_PATH } from '../init/ciSettings.ts';
import { type InitResult, initProject } from '../init/init.ts';
import { ROLE_VARIABLE } from '../init/workflow.ts';
import { type CliIo, ExitCode, UsageError } from '../io.ts';
import { printJson } from '../output.ts';

export const usage = `Usage: migration-pipeline init [--root .] [--dir FOLDER] [--yes | --dry-run] [--json] [options]

Sets an app's repository up to release with migration-pipeline:
  - the migrations folder: --dir, else the one found among the usual places (migrations/,
    db/migrations/, prisma/migrations/, drizzle/, src/main/resources/db/migration/, ...), with its
    layout; else a new, empty migrations/ ("migrate new" writes the first migration);
  - the Dockerfile lines that carry the migrations in the image (COPY <dir>/ /app/migrations/, or
    the io.migration-pipeline.migrations label when they are copied elsewhere);
  - .github/workflows/migration-pipeline.yml: on pull requests the check action, on pushes to the
    branch build and push the image to ECR and the release action (off until the repository
    variable ${ROLE_VARIABLE} is set);
  - docs/migration-pipeline-ci.md: the IAM role the workflow assumes, permission by permission.
An existing file is never changed without a yes: at a terminal init shows the change and asks,
--yes agrees to all, and otherwise the file is left as it is and reported. A second run changes nothing.

  --root DIR               the app's repository (default: here)
  --dir FOLDER             the migrations folder, relative to --root
  --dockerfile PATH        the Dockerfile, relative to --root (default Dockerfile)
  --branch NAME            pushes to this branch release (default main)
  --region REGION          the AWS region of ECR and the pipeline (default AWS_REGION, else us-east-1)
  --ecr-repository NAME    the app's ECR repository (default: the repository folder's name)
  --stack NAME             the pipeline's SAM stack (default migration-pipeline)
  --state-machine-arn ARN  the pipeline's state machine, instead of --stack
  --github-repository O/N  the repository the CI role trusts (default: the origin remote on GitHub)
  --yes                    append to the Dockerfile and replace changed files without asking
  --dry-run                list what init would write; write nothing
  --json                   one JSON document
`;

export async function initCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parse(argv, {
    root: { type: 'string' },
    dir: { type: 'string' },
    dockerfile: { type: 'string', default: 'Dockerfile' },
    branch: { type: 'string' },
    region: { type: 'string' },
    'ecr-repository': { type: 'string' },
    stack: { type: 'string' },
    'state-machine-arn': { type: 'string' },
    'github-repository': { type: 'string' },
    yes: { type: 'boolean', default: false },
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.stdout(usage);
    return ExitCode.ok;
  }
  if (values.yes && values['dry-run']) throw new UsageError('Give --dry-run or --yes, not both.');
  const root = resolve(io.cwd, values.root ?? '.');
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) {
    throw new UsageError(`--root ${values.root} is not a folder: give the app's repository.`);
  }
  const result = await initProject({
    root,
    ...(values.dir === undefined ? {} : { dir: values.dir }),
    dockerfile: values.dockerfile,
    flags: values,
    env: io.env,
    dryRun: values['dry-run'],
    yes: values.yes,
    ...(io.confirm ? { confirm: io.confirm } : {}),
    // Beside the question (on stderr), so that --json keeps stdout to its one document.
    show: (text) => io.stderr(`${text}\n`),
  });
  if (values.json) printJson(io, result);
  else io.stdout(describe(result));
  return ExitCode.ok;
}

/** The result for a person: one line per thing init looked after, then what is left to do. */
function describe(result: InitResult): string {
  const would = result.dryRun;
  const lines: string[] = [];
  const { migrations, dockerfile } = result;
  if (migrations.outcome === 'created') {
    lines.push(
      `${would ? 'Would create' : 'Created'} ${migrations.dir}/, empty: "npx migration-pipeline migrate new <description>" writes the first migration (git keeps the folder from then on).`,
    );
  } else {
    lines.push(
      `Migrations: ${migrations.dir}/, ${migrations.description}; ${migrations.count} migration(s).`,
    );
  }
  if (migrations.alembic) {
    const versions = migrations.alembic.folder
      ? `${migrations.alembic.folder}/versions`
      : 'its versions folder';
    lines.push(
      `Alembic project (${migrations.alembic.evidence}): its migrations in ${versions} are Python, which migration-pipeline does not read. ` +
        `Keep the schema Alembic built and write new migrations in ${migrations.dir}/; to start it from the schema as it is, put a schema-only dump there as the first migration and record it as applied with "migrate baseline --to <it>". ` +
        'See the README, "Migrations from the command line" (node_modules/migration-pipeline/README.md).',
    );
  }
  if (dockerfile.outcome === 'carries') {
    lines.push(
      `${dockerfile.path} already carries the migrations to ${dockerfile.imagePath}: ${dockerfile.evidence}`,
    );
  } else if (dockerfile.outcome === 'appended') {
    lines.push(`Appended to ${dockerfile.path}:\n${indent(dockerfile.lines)}`);
  } else if (dockerfile.outcome === 'missing') {
    lines.push(
      `No ${dockerfile.path} yet. When you write it, these lines carry the migrations in the image:\n${indent(dockerfile.lines)}`,
    );
  } else {
    lines.push(
      `${dockerfile.path} does not carry the migrations in the image. Add these lines (${would ? 'init --yes appends them' : 'left unchanged; init --yes appends them'}):\n${indent(dockerfile.lines)}`,
    );
  }
  for (const file of result.files) {
    const said = {
      created: `${would ? 'Would create' : 'Created'} ${file.path}: ${file.purpose}.`,
      'up-to-date': `${file.path} is up to date.`,
      replaced: `Replaced ${file.path}: ${file.purpose}.`,
      kept: `${file.path} exists and differs from what init writes: left unchanged (init --yes replaces it).`,
    };
    lines.push(said[file.outcome]);
  }
  if (would) lines.push('', 'Dry run: nothing was written.');
  else if (!result.changed) {
    const linesToAdd = dockerfile.outcome === 'kept' || dockerfile.outcome === 'missing';
    lines.push(
      '',
      linesToAdd
        ? `Nothing changed; the lines above are still to add to ${dockerfile.path}.`
        : 'Nothing changed: everything init writes is in place.',
    );
  } else {
    lines.push(
      '',
      'Next:',
      '  1. Create the CI role as docs/migration-pipeline-ci.md says, then set the repository variable ' +
        `${ROLE_VARIABLE} to its ARN: the release job runs from then on.`,
      `  2. Commit; the workflow uses the actions in ${INSTALLED_ACTIONS_PATH}/, which npm ci installs.`,
    );
    if (migrations.count === 0) {
      lines.push(
        `  3. Write the first migration ("npx migration-pipeline migrate new <description>") before the first pull request: check fails on a folder without one, and git does not keep an empty ${migrations.dir}/.`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

const indent = (lines: string[]) => lines.map((line) => `    ${line}`).join('\n');
