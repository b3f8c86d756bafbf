import { readFile, realpath } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { listMigrationFiles } from '../../functions/lib/migrations/files.ts';
import { escapeData, escapeProperty } from '../githubActions.ts';
import type { CheckFinding, CheckReport } from './check.ts';

/**
 * `check --github`: the check report as GitHub Actions shows it, each finding an annotation on the
 * migration's file (at its statement's line when the file shows the statement), and a job summary.
 */

/** One finding placed in the repository. */
export interface LocatedFinding {
  migration: string;
  finding: CheckFinding;
  /** The migration's file, relative to the repository root, `/`-separated as GitHub wants it. */
  file?: string;
  line?: number;
}

/**
 * Places every finding: the file each migration was read from (relative to `root`, where GitHub
 * runs the job) and the line where the statement a finding names begins in it.
 */
export async function locateFindings(
  report: CheckReport,
  { migrationsDir, root }: { migrationsDir: string; root: string },
): Promise<LocatedFinding[]> {
  // The engine lists files by their real paths: compare them with the real root.
  const realRoot = await realpath(root);
  const paths = new Map((await listMigrationFiles(migrationsDir)).map((file) => [file.name, file.path]));
  const located: LocatedFinding[] = [];
  for (const migration of report.migrations) {
    const path = paths.get(migration.name);
    const source = path === undefined ? undefined : await readFile(path, 'utf8').catch(() => undefined);
    const file = path === undefined ? undefined : relative(realRoot, path).split(sep).join('/');
    for (const finding of migration.findings) {
      const sent = finding.statement && fullStatement(finding.statement, migration.statements);
      const line = source !== undefined && sent ? lineOf(source, sent) : undefined;
      located.push({
        migration: migration.name,
        finding,
        ...(file === undefined || file.startsWith('..') ? {} : { file }),
        ...(line === undefined ? {} : { line }),
      });
    }
  }
  return located;
}

/** A finding quotes its statement shortened to one line: the statement as sent keeps its lines and comments. */
function fullStatement(shortened: string, statements: { sql: string }[]): string {
  const prefix = shortened.replace(/\.\.\.$/, '');
  return statements.find((s) => s.sql.replace(/\s+/g, ' ').trim().startsWith(prefix))?.sql ?? shortened;
}

const LEADING_COMMENTS = /^(?:\s*(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/))*\s*/;

/**
 * The line where the statement's first words appear in the file, comments before them skipped; words
 * from a parameter on (`$1`, what a module's `${value}` became) cannot be in the file and are left out.
 * Undefined when the file does not show them (a module that builds its SQL).
 */
function lineOf(source: string, statement: string): number | undefined {
  const words: string[] = [];
  for (const word of statement.replace(LEADING_COMMENTS, '').split(/\s+/)) {
    if (word === '' || /\$\d/.test(word)) break;
    words.push(word);
    if (words.length === 8) break;
  }
  if (words.length < 2) return undefined;
  const pattern = new RegExp(
    words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\s+'),
    'i',
  );
  const match = pattern.exec(source);
  return match ? source.slice(0, match.index).split('\n').length : undefined;
}

/** `::error file=…,line=…,title=…::message` (or `::warning`), one per finding. */
export function findingAnnotations(located: LocatedFinding[]): string {
  return located
    .map(({ migration, finding, file, line }) => {
      const properties = [
        ...(file ? [`file=${escapeProperty(file)}`] : []),
        ...(file && line ? [`line=${line}`] : []),
        `title=${escapeProperty(`${finding.rule} in ${migration}`)}`,
      ];
      const message = [
        finding.message,
        ...(finding.statement ? [`in: ${finding.statement}`] : []),
        ...(finding.help ? [`safer: ${finding.help}`] : []),
      ].join('\n');
      return `::${finding.severity} ${properties.join(',')}::${escapeData(message)}\n`;
    })
    .join('');
}

/** The annotation for a check that could not finish (a folder it cannot read, a database it cannot reach). */
export function failureAnnotation(error: { name: string; message: string }): string {
  return `::error title=${escapeProperty(`check failed: ${error.name}`)}::${escapeData(error.message)}\n`;
}

/** Markdown for the job summary: the verdict, a table of the findings, and the migrations found clean. */
export function checkSummaryMarkdown(report: CheckReport, located: LocatedFinding[]): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
  const code = (text: string) => `\`${cell(text).replace(/`/g, "'")}\``;
  const verdict = report.ok ? 'passed ✅' : 'failed ❌';
  const lines = [
    `### Migration check ${verdict}`,
    '',
    `${report.migrations.length} migration(s) checked: ${report.errors} error(s), ${report.warnings} warning(s).`,
    '',
  ];
  if (located.length > 0) {
    lines.push('| Migration | Severity | Rule | Finding | Safer |', '| --- | --- | --- | --- | --- |');
    for (const { migration, finding, file, line } of located) {
      const where = file ? `${file}${line ? `:${line}` : ''}` : migration;
      const severity = finding.severity === 'error' ? '❌ error' : '⚠️ warning';
      const statement = finding.statement ? `<br>${code(finding.statement)}` : '';
      lines.push(
        `| ${code(where)} | ${severity} | ${cell(finding.rule)} | ${cell(finding.message)}${statement} | ${cell(finding.help ?? '')} |`,
      );
    }
    lines.push('');
  }
  const clean = report.migrations.filter((migration) => migration.findings.length === 0);
  if (clean.length > 0)
    lines.push(`No finding: ${clean.map((migration) => code(migration.name)).join(', ')}.`);
  const forwardOnly = report.migrations.filter((migration) => migration.roundTripSkipped);
  if (forwardOnly.length > 0) {
    lines.push(
      '',
      `No down, so no round trip (forward-only): ${forwardOnly.map((migration) => code(migration.name)).join(', ')}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
