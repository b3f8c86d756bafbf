import type { Release } from '../../functions/lib/contract/events.ts';
import type { DeploymentStarted, DeploymentStatus } from '../../functions/lib/deploy/appRunner.ts';
import type { ConnectivityReport } from '../../functions/lib/pipeline/checkConnectivity.ts';
import type { PreflightResult } from '../../functions/lib/pipeline/deployStep.ts';
import type { MigrateUpResult, RollbackResult } from '../../functions/lib/pipeline/migrateStep.ts';
import { formatDuration } from '../output.ts';
import type { ProgressEvent, StateKind } from '../release/progressEvents.ts';

/** How a state went, for the final table and the GitHub step summary. */
export interface StateRecord {
  name: string;
  kind: StateKind;
  status: 'running' | 'succeeded' | 'failed';
  durationMs: number;
  retries: number;
  detail?: string;
}

export interface ReleaseSummary {
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  durationMs: number;
  states: StateRecord[];
  /** Migrations this release applied (and kept, unless listed in `reverted`). */
  applied: string[];
  /** Migrations the rollback branch reverted. */
  reverted: string[];
  dryRun: boolean;
  pending: string[];
  image?: string;
  error?: string;
  cause?: string;
  /** The state whose failure ended the release (the first failure, not the rollback that followed). */
  failedState?: string;
}

/** The state machine's state, as the Lambdas' results land in it (ResultPath), or the dry run's plan. */
interface Output {
  connectivity?: ConnectivityReport;
  migration?: MigrateUpResult;
  deployment?: DeploymentStarted & { dryRun?: boolean };
  deploymentStatus?: DeploymentStatus;
  preflight?: PreflightResult;
  restore?: DeploymentStarted;
  restoreStatus?: DeploymentStatus;
  rollback?: RollbackResult;
  pending?: string[];
  image?: string;
  release?: Release;
}

/** One line of detail per state, read from the state's output (the Lambdas' results, by ResultPath). */
const DETAILS: Record<string, (output: Output) => string | undefined> = {
  ResolveImage: ({ release: r }) =>
    r &&
    `${r.bundle.migrations} file(s) of migrations in ${r.image.uri}, bundle ${r.bundle.sha256.slice(0, 12)}`,
  CheckConnectivity: ({ connectivity: c }) =>
    c &&
    `PostgreSQL ${c.serverVersion}, ${c.pending.length} pending, ${c.lockFree ? 'lock free' : `lock held by session ${c.lockHolderPid}`}, ${c.longTransactions.length} long transaction(s)${c.turnTakenAt ? ', turn taken' : ''}${c.schemaAheadBy?.length ? `, the schema is ${c.schemaAheadBy.length} migration(s) ahead of this image` : ''}`,
  Migrate: ({ migration: m }) =>
    m &&
    (m.applied.length > 0
      ? `applied ${m.applied.length}: ${m.applied.join(', ')}${m.done ? '' : ' (more next call)'}`
      : 'nothing pending'),
  Deploy: ({ deployment: d }) =>
    d &&
    (d.dryRun
      ? `dry run: would deploy ${d.image}`
      : d.alreadyDeployed
        ? `already running ${d.image}`
        : `deploying ${d.image} (operation ${d.operationId})`),
  PollDeployment: ({ deploymentStatus: s }) =>
    s && `${s.status}${s.durationMs ? ` after ${formatDuration(s.durationMs)}` : ''}`,
  PreflightDeploy: ({ preflight: p }) =>
    p &&
    (p.dryRun
      ? 'dry run: no service configured'
      : `the service runs ${p.previous.image ?? p.previous.taskDefinition}: restored if the release fails`),
  RestoreService: ({ restore: r }) =>
    r && (r.alreadyDeployed ? `the service already runs ${r.image} again` : `restoring ${r.image}`),
  PollRestore: ({ restoreStatus: s }) => s && `${s.status}`,
  RollbackMigrations: ({ rollback: r }) =>
    r &&
    (r.reverted.length > 0 ? `reverted ${r.reverted.length}: ${r.reverted.join(', ')}` : 'nothing to revert'),
  ReportPlan: (plan) =>
    `dry run: would apply ${plan.pending?.length ?? 0}${plan.pending?.length ? `: ${plan.pending.join(', ')}` : ''}; image ${plan.image}`,
};

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ReporterOptions {
  write(text: string): void;
  /** A terminal gets a spinner line for the running state; logs and CI get plain lines. */
  tty: boolean;
  /** Print nothing (for --json): the summary is still kept. */
  quiet?: boolean;
}

/**
 * Turns execution events into one line per state as it is entered and left (name, duration, retries,
 * what it did), and keeps the summary for the end.
 */
export class ReleaseReporter {
  private readonly states: StateRecord[] = [];
  private readonly running = new Map<string, { record: StateRecord; enteredAt: number }>();
  private readonly summary: ReleaseSummary = {
    status: 'RUNNING',
    durationMs: 0,
    states: this.states,
    applied: [],
    reverted: [],
    dryRun: false,
    pending: [],
  };
  private startedAt: number | undefined;
  /** The last wait reported, so that a release retried 100 times behind the same one says it once. */
  private lastWait: string | undefined;
  private spinner: ReturnType<typeof setInterval> | undefined;

  private readonly options: ReporterOptions;

  constructor(options: ReporterOptions) {
    this.options = options;
  }

  handle(event: ProgressEvent): void {
    this.startedAt ??= event.at;
    this.summary.durationMs = event.at - this.startedAt;
    switch (event.type) {
      case 'stateEntered': {
        // Choices only route; a Fail state repeats the error the summary prints.
        if (event.kind === 'Choice' || event.kind === 'Fail') return;
        const record: StateRecord = {
          name: event.state,
          kind: event.kind,
          status: 'running',
          durationMs: 0,
          retries: 0,
        };
        this.states.push(record);
        this.running.set(event.state, { record, enteredAt: event.at });
        this.showRunning(event.state);
        return;
      }
      case 'stateRetried': {
        const running = this.running.get(event.state);
        if (running) running.record.retries++;
        // A wait worth a line of its own: whom a queued release waits for.
        if (event.error === 'ReleaseQueued' && event.cause !== this.lastWait) {
          this.lastWait = event.cause;
          this.clearSpinnerLine();
          this.write(`… ${event.state} waits its turn. ${event.cause}\n`);
          if (this.options.tty) this.showRunning(event.state);
        }
        return;
      }
      case 'stateExited': {
        const running = this.running.get(event.state);
        if (!running) return;
        this.running.delete(event.state);
        running.record.status = 'succeeded';
        running.record.durationMs = event.at - running.enteredAt;
        this.collect(event.state, event.output as Output);
        running.record.detail = DETAILS[event.state]?.(event.output as Output);
        this.line('✓', running.record);
        return;
      }
      case 'stateFailed': {
        const running = this.running.get(event.state);
        if (!running) return;
        running.record.status = 'failed';
        running.record.durationMs = event.at - running.enteredAt;
        running.record.detail = `${event.error}: ${event.cause}`;
        this.summary.failedState ??= event.state;
        // A caught failure continues in the rollback branch; only an uncaught one ends the state here.
        this.line('✗', running.record);
        this.running.delete(event.state);
        return;
      }
      case 'executionSucceeded':
        this.summary.status = 'SUCCEEDED';
        this.stopSpinner();
        return;
      case 'executionFailed':
        this.summary.status = 'FAILED';
        this.summary.error = event.error;
        this.summary.cause = event.cause;
        this.stopSpinner();
        return;
    }
  }

  result(): ReleaseSummary {
    this.stopSpinner();
    return this.summary;
  }

  private collect(state: string, output: Output): void {
    if (state === 'Migrate' && output?.migration)
      this.summary.applied = output.migration.appliedByRun ?? output.migration.applied;
    if (state === 'RollbackMigrations' && output?.rollback) this.summary.reverted = output.rollback.reverted;
    if (state === 'CheckConnectivity' && output?.connectivity) {
      this.summary.pending = output.connectivity.pending;
      this.summary.image = output.connectivity.image;
    }
    if (state === 'ReportPlan') this.summary.dryRun = true;
  }

  private line(mark: string, record: StateRecord): void {
    this.clearSpinnerLine();
    const retries =
      record.retries > 0 ? `  (${record.retries} ${record.retries === 1 ? 'retry' : 'retries'})` : '';
    const detail = record.detail ? `  ${record.detail}` : '';
    this.write(
      `${mark} ${record.name.padEnd(20)} ${formatDuration(record.durationMs).padStart(8)}${retries}${detail}\n`,
    );
  }

  private showRunning(state: string): void {
    if (!this.options.tty) {
      this.write(`→ ${state}\n`);
      return;
    }
    this.stopSpinner();
    const started = Date.now();
    let frame = 0;
    const draw = () => {
      const elapsed = formatDuration(Date.now() - started);
      this.write(`\r\x1b[2K${SPINNER[frame++ % SPINNER.length]} ${state} ${elapsed}`);
    };
    draw();
    this.spinner = setInterval(draw, 100);
    this.spinner.unref();
  }

  private clearSpinnerLine(): void {
    if (!this.options.tty) return;
    this.stopSpinner();
    this.write('\r\x1b[2K');
  }

  private stopSpinner(): void {
    if (this.spinner) clearInterval(this.spinner);
    this.spinner = undefined;
  }

  private write(text: string): void {
    if (!this.options.quiet) this.options.write(text);
  }
}

/**
 * Each migration this release touched: applied, or applied and then reverted by the rollback branch
 * (which also reverts those applied before a failing one, which never reached Migrate's output).
 */
export function migrationResults(summary: ReleaseSummary): [string, string][] {
  const reverted = summary.reverted.filter((name) => !summary.applied.includes(name)).reverse();
  return [
    ...summary.applied.map((name): [string, string] => [
      name,
      summary.reverted.includes(name) ? 'applied, then reverted' : 'applied',
    ]),
    ...reverted.map((name): [string, string] => [name, 'applied, then reverted']),
  ];
}

/** What to say when the release applied no migration: none was pending, or it never got to try. */
function withoutMigrations(summary: ReleaseSummary): string {
  if (summary.dryRun) return 'No migration is pending.';
  const migrate = summary.states.filter((state) => state.name === 'Migrate');
  if (migrate.some((state) => state.status === 'succeeded'))
    return 'No migration was pending: the schema was already up to date.';
  if (migrate.length > 0) return 'No migration was applied.';
  if (summary.status === 'RUNNING') return 'No migration applied yet.';
  const where = summary.failedState ? `in ${summary.failedState}, ` : '';
  return `No migration was attempted: the release stopped ${where}before Migrate.`;
}

/** The closing block: how the release ended and the table of migrations. */
export function formatSummary(summary: ReleaseSummary, consoleUrl?: string): string {
  const lines: string[] = [''];
  if (summary.status === 'SUCCEEDED') {
    lines.push(
      summary.dryRun
        ? `Dry run finished in ${formatDuration(summary.durationMs)}: nothing was changed.`
        : `Release succeeded in ${formatDuration(summary.durationMs)}.`,
    );
  } else if (summary.status === 'FAILED') {
    lines.push(`Release FAILED${summary.failedState ? ` in ${summary.failedState}` : ''}: ${summary.error}`);
    if (summary.cause) lines.push(`  ${summary.cause}`);
    if (summary.reverted.length > 0)
      lines.push(`  The rollback branch reverted this release's migrations: the schema is as it was before.`);
  } else {
    lines.push('Release still running.');
  }
  const rows = [
    ...migrationResults(summary),
    ...(summary.dryRun ? summary.pending.map((name) => [name, 'pending (dry run)']) : []),
  ];
  if (rows.length === 0) {
    lines.push(withoutMigrations(summary));
  } else {
    const width = Math.max(...rows.map(([name]) => (name ?? '').length), 'MIGRATION'.length);
    lines.push(
      '',
      `  ${'MIGRATION'.padEnd(width)}  RESULT`,
      ...rows.map(([name, result]) => `  ${(name ?? '').padEnd(width)}  ${result}`),
    );
  }
  if (consoleUrl) lines.push('', `Console: ${consoleUrl}`);
  return `${lines.join('\n')}\n`;
}
