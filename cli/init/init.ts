import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from '../io.ts';
import { ciGuideMarkdown } from './ciGuide.ts';
import { type CiFlags, ciSettings } from './ciSettings.ts';
import { copyLines, readDockerfile } from './dockerfile.ts';
import { type MigrationsFolderPlan, planMigrationsFolder } from './migrationsFolder.ts';
import { CI_GUIDE_PATH, WORKFLOW_PATH, workflowYaml } from './workflow.ts';

export interface InitOptions {
  /** The app's repository. */
  root: string;
  /** The migrations folder, relative to root; found or created when absent. */
  dir?: string;
  /** The Dockerfile, relative to root. */
  dockerfile: string;
  flags: CiFlags;
  env: Record<string, string | undefined>;
  /** List what would change; change nothing. */
  dryRun: boolean;
  /** Agree to every change to an existing file without asking. */
  yes: boolean;
  /** Asks the person at the terminal; absent where no one can answer. */
  confirm?: (question: string) => Promise<boolean>;
  /** Shows what a question is about, just before asking it. */
  show: (text: string) => void;
}

/**
 * What init did, or would do (`dryRun`). `created`, `appended` and `replaced` are changes; `kept` is
 * an existing file that differs from init's version (or a Dockerfile lacking the lines) left as it is.
 */
export interface InitResult {
  root: string;
  dryRun: boolean;
  migrations: MigrationsFolderPlan & { outcome: 'created' | 'existing' };
  dockerfile:
    | { path: string; outcome: 'carries'; imagePath: string; evidence: string }
    | { path: string; outcome: 'appended' | 'kept' | 'missing'; lines: string[] };
  files: { path: string; purpose: string; outcome: 'created' | 'up-to-date' | 'replaced' | 'kept' }[];
  changed: boolean;
}

/**
 * Scaffolds what an app needs to release with migration-pipeline: the migrations folder, the
 * Dockerfile lines that carry it in the image, the GitHub Actions workflow and the IAM guide.
 * Everything is read and decided first, so bad input changes nothing; an existing file changes
 * only with --yes or the person's yes at the terminal.
 */
export async function initProject(options: InitOptions): Promise<InitResult> {
  const { root } = options;
  const folder = await planMigrationsFolder(root, options.dir);
  const settings = await ciSettings(root, folder.dir, options.flags, options.env);
  const dockerfileText = await readIfExists(join(root, options.dockerfile));
  const wanted = [
    { path: WORKFLOW_PATH, purpose: 'the GitHub Actions workflow', text: workflowYaml(settings) },
    { path: CI_GUIDE_PATH, purpose: 'the IAM role CI needs', text: ciGuideMarkdown(settings) },
  ];
  const current = await Promise.all(wanted.map((file) => readIfExists(join(root, file.path))));

  const agrees = async (question: string, shown: string): Promise<boolean> => {
    if (options.dryRun) return false;
    if (options.yes) return true;
    if (!options.confirm) return false;
    options.show(shown);
    return options.confirm(question);
  };

  const migrations = {
    ...folder,
    outcome: folder.origin === 'new' ? ('created' as const) : ('existing' as const),
  };
  if (folder.origin === 'new' && !options.dryRun) await mkdir(join(root, folder.dir), { recursive: true });
  const dockerfile = await settleDockerfile(root, options.dockerfile, dockerfileText, folder.dir, agrees);
  const files: InitResult['files'] = [];
  for (const [index, file] of wanted.entries()) {
    const outcome = await settleFile(root, file, current[index], agrees, options.dryRun);
    files.push({ path: file.path, purpose: file.purpose, outcome });
  }

  const changed =
    migrations.outcome === 'created' ||
    dockerfile.outcome === 'appended' ||
    files.some((file) => file.outcome === 'created' || file.outcome === 'replaced');
  return { root, dryRun: options.dryRun, migrations, dockerfile, files, changed };
}

type Agrees = (question: string, shown: string) => Promise<boolean>;

/** The Dockerfile carries the migrations, or gets the lines that make it (with a yes), or they are reported. */
async function settleDockerfile(
  root: string,
  path: string,
  text: string | undefined,
  dir: string,
  agrees: Agrees,
): Promise<InitResult['dockerfile']> {
  if (text === undefined) return { path, outcome: 'missing', lines: copyLines(dir) };
  const verdict = readDockerfile(text, dir);
  if (verdict.carries) {
    return { path, outcome: 'carries', imagePath: verdict.imagePath, evidence: verdict.evidence };
  }
  const block = verdict.lines.join('\n');
  const append = await agrees(
    `Append these lines to ${path}?`,
    `${path} does not carry the migrations in the image; these lines would:\n${indent(block)}`,
  );
  if (append)
    await appendFile(join(root, path), `${text.endsWith('\n') || text === '' ? '' : '\n'}\n${block}\n`);
  return { path, outcome: append ? 'appended' : 'kept', lines: verdict.lines };
}

/** Writes a file init owns when it is missing, or when it differs and the person agrees. */
async function settleFile(
  root: string,
  file: { path: string; purpose: string; text: string },
  existing: string | undefined,
  agrees: Agrees,
  dryRun: boolean,
): Promise<InitResult['files'][number]['outcome']> {
  if (existing === file.text) return 'up-to-date';
  const outcome =
    existing === undefined
      ? 'created'
      : (await agrees(
            `Replace ${file.path} with init's version?`,
            `${file.path} exists and differs from what init writes (${file.purpose}).`,
          ))
        ? 'replaced'
        : 'kept';
  if (outcome !== 'kept' && !dryRun) {
    await mkdir(dirname(join(root, file.path)), { recursive: true });
    await writeFile(join(root, file.path), file.text);
  }
  return outcome;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR')
      throw new UsageError(
        `${path} is a folder where init expects a file: move it, or name the Dockerfile with --dockerfile.`,
      );
    throw error;
  }
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
