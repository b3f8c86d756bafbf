import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CheckFinding, checkMigrations } from '../../cli/check/check.ts';
import { lintStatements } from '../../cli/check/squawk.ts';
import { splitStatements } from '../../functions/lib/migrations/sqlFile.ts';
import type { CheckCase } from './corpusCase.ts';

/** How one judge (check, or squawk alone) did on the corpus. */
export interface JudgeScore {
  /** Dangerous cases it failed (an error). */
  caught: number;
  /** Cases it failed, dangerous or not. */
  failed: number;
  recall: number;
  precision: number;
  /** Warnings over all the safe cases. */
  safeWarnings: number;
  /** Dangerous cases it failed whose advice matches the case's (check only). */
  rightAdvice: number;
  misses: string[];
  falseAlarms: string[];
  wrongAdvice: string[];
}

export interface CorpusScore {
  cases: number;
  dangerous: number;
  safe: number;
  check: JudgeScore;
  squawk: JudgeScore;
  /** Wall time of `check` over the whole corpus. */
  checkMs: number;
}

interface Verdict {
  errors: CheckFinding[];
  warnings: number;
}

/**
 * Runs `check` and squawk alone (on the SQL as written) on every case, and scores both against the
 * labels: a judge fails a case when it reports an error; recall and precision are over the
 * dangerous cases. `databaseUrl` is an empty database (nothing applied, so the case's migration is
 * pending); check makes its scratch databases on its server, the case's setup as the seed.
 */
export async function scoreCorpus(databaseUrl: string, cases: readonly CheckCase[]): Promise<CorpusScore> {
  const started = performance.now();
  const checkVerdicts = new Map<string, Verdict>();
  for (const testCase of cases) checkVerdicts.set(testCase.id, await checkVerdict(databaseUrl, testCase));
  const checkMs = performance.now() - started;
  const squawkVerdicts = new Map<string, Verdict>();
  for (const testCase of cases) squawkVerdicts.set(testCase.id, await squawkVerdict(testCase));
  return {
    cases: cases.length,
    dangerous: cases.filter((c) => c.dangerous).length,
    safe: cases.filter((c) => !c.dangerous).length,
    check: score(cases, checkVerdicts, true),
    squawk: score(cases, squawkVerdicts, false),
    checkMs,
  };
}

function score(
  cases: readonly CheckCase[],
  verdicts: Map<string, Verdict>,
  judgeAdvice: boolean,
): JudgeScore {
  const failed = cases.filter((c) => (verdicts.get(c.id)?.errors.length ?? 0) > 0);
  const caught = failed.filter((c) => c.dangerous);
  const wrongAdvice = judgeAdvice
    ? caught.filter((c) => !verdicts.get(c.id)?.errors.some((finding) => c.advice?.test(finding.help ?? '')))
    : [];
  const dangerous = cases.filter((c) => c.dangerous).length;
  return {
    caught: caught.length,
    failed: failed.length,
    recall: dangerous === 0 ? 1 : caught.length / dangerous,
    precision: failed.length === 0 ? 1 : caught.length / failed.length,
    safeWarnings: cases
      .filter((c) => !c.dangerous)
      .reduce((sum, c) => sum + (verdicts.get(c.id)?.warnings ?? 0), 0),
    rightAdvice: caught.length - wrongAdvice.length,
    misses: cases.filter((c) => c.dangerous && !failed.includes(c)).map((c) => c.id),
    falseAlarms: failed.filter((c) => !c.dangerous).map((c) => c.id),
    wrongAdvice: wrongAdvice.map((c) => c.id),
  };
}

async function checkVerdict(databaseUrl: string, testCase: CheckCase): Promise<Verdict> {
  const dir = await mkdtemp(join(tmpdir(), `check-corpus-${testCase.id}-`));
  try {
    const migrations = join(dir, 'migrations');
    const seed = join(dir, 'setup.sql');
    await writeFile(seed, testCase.setup);
    const file = 'sql' in testCase.migration ? '001-case.sql' : '001-case.mjs';
    const source = 'sql' in testCase.migration ? testCase.migration.sql : testCase.migration.module;
    await mkdir(migrations);
    await writeFile(join(migrations, file), source);
    const report = await checkMigrations({ databaseUrl, migrationsDir: migrations, seedFile: seed });
    const findings = report.migrations.flatMap((migration) => migration.findings);
    return {
      errors: findings.filter((finding) => finding.severity === 'error'),
      warnings: findings.filter((finding) => finding.severity === 'warning').length,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** squawk on the up section as written: what a team running squawk alone in CI sees. */
async function squawkVerdict(testCase: CheckCase): Promise<Verdict> {
  if (!('sql' in testCase.migration)) return { errors: [], warnings: 0 };
  const up =
    testCase.migration.sql.split(/^--\s*migrate:down/m)[0]?.replace(/^--\s*migrate:up.*$/m, '') ?? '';
  const statements = splitStatements(up);
  const findings = statements.length === 0 ? [] : await lintStatements(statements, '15.0');
  return {
    errors: findings.map((finding) => ({ rule: finding.rule, severity: 'error', message: finding.message })),
    warnings: 0,
  };
}
