import {
  InvalidInput,
  MigrationDrift,
  MigrationMissing,
  MigrationOutOfOrder,
  RollbackFailed,
} from '../errors.ts';
import { findMigration, type MigrationFile, stripExtension } from './files.ts';
import type { AppliedMigration } from './history.ts';

/** Options of `checkHistory`. */
export interface HistoryCheckOptions {
  /** For redo, which reverts the newest applied migration and applies it again as its file is now. */
  allowChangedNewest?: boolean;
  /**
   * For releases from images: an older image's migrations are a strict prefix of the history (the
   * app rolled back), which is fine; the newer migrations stay applied and nothing is reverted.
   */
  schemaMayBeAhead?: boolean;
}

/**
 * Refuses to go on when the history and the folder disagree: an applied migration whose file is gone
 * (`MigrationMissing`) or changed (`MigrationDrift`), or a new file sorted before an applied one
 * (`MigrationOutOfOrder`). Runs before anything is applied or reverted. Returns the applied
 * migrations the folder does not have when `schemaMayBeAhead` allows them: the newest ones of the
 * history, with every file of the folder applied before them (anything else is a gap).
 */
export function checkHistory(
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
  { allowChangedNewest = false, schemaMayBeAhead = false }: HistoryCheckOptions = {},
): { aheadOfFiles: string[] } {
  const byName = new Map(files.map((file) => [file.name, file]));
  const missing = applied.filter((row) => !byName.has(row.name)).map((row) => row.name);
  const ahead = schemaMayBeAhead && isStrictPrefix(files, applied) ? missing : [];
  if (missing.length > 0 && ahead.length === 0) {
    throw new MigrationMissing(
      `Applied migration${missing.length > 1 ? 's' : ''} ${missing.join(', ')} no longer exist${missing.length > 1 ? '' : 's'} in the migrations folder. ` +
        'Restore the file(s) from version control; never delete an applied migration (write a new one that undoes it).',
      { migrations: missing },
    );
  }
  for (const row of allowChangedNewest ? applied.slice(0, -1) : applied) {
    const file = byName.get(row.name);
    if (file && file.checksum !== row.checksum) {
      throw new MigrationDrift(
        `Migration ${row.name} changed after it was applied (by ${row.appliedBy} on ${row.appliedAt.toISOString()}). ` +
          'Restore the applied version and put the change in a new migration.',
        { migration: row.name, recorded: row.checksum, current: file.checksum },
      );
    }
  }
  // The folder lists its migrations in the order they apply, whatever its layout: that order decides.
  const position = new Map(files.map((file, index) => [file.name, index]));
  const newestIndex = Math.max(-1, ...applied.map((row) => position.get(row.name) ?? -1));
  const newest = files[newestIndex]?.name;
  if (newest === undefined || ahead.length > 0) return { aheadOfFiles: ahead };
  const appliedNames = new Set(applied.map((row) => row.name));
  const early = files.find((file, index) => !appliedNames.has(file.name) && index < newestIndex);
  if (early) {
    throw new MigrationOutOfOrder(
      `Migration ${early.name} is new but comes before ${newest} in the folder's order, and ${newest} is already applied. ` +
        'Rename it (or, for Drizzle, move its journal entry) so that it comes after the newest applied migration (migrate new picks the next one).',
      { migration: early.name, newestApplied: newest },
    );
  }
  return { aheadOfFiles: [] };
}

/** The folder holds exactly the first applied migrations, in the order they were applied, and nothing new. */
function isStrictPrefix(files: readonly MigrationFile[], applied: readonly AppliedMigration[]): boolean {
  return files.length < applied.length && files.every((file, index) => applied[index]?.name === file.name);
}

export function pendingMigrations(
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
): MigrationFile[] {
  const appliedNames = new Set(applied.map((row) => row.name));
  return files.filter((file) => !appliedNames.has(file.name));
}

export interface UpSelection {
  /** Apply up to and including this migration (file name, with or without extension). */
  to?: string;
  /** Apply at most this many. */
  step?: number;
}

/** The pending migrations an `up` should apply, in order. */
export function selectForUp(
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
  { to, step }: UpSelection,
): MigrationFile[] {
  let selected = pendingMigrations(files, applied);
  if (to !== undefined) {
    const target = findMigration(files, to);
    if (!target) {
      throw new InvalidInput(
        `--to ${to}: no such migration in the folder. Run "migrate status" to see the names.`,
        {
          field: 'to',
        },
      );
    }
    const unselected = new Set(files.slice(files.indexOf(target) + 1));
    selected = selected.filter((file) => !unselected.has(file));
  }
  return step === undefined ? selected : selected.slice(0, step);
}

export interface DownSelection {
  /** Revert everything applied after this migration; it stays applied. */
  to?: string;
  /** Revert at most this many, newest first. Alone, the default is 1. */
  step?: number;
  /** Revert exactly what this run (an `applied_by` value) applied, newest first. */
  revertRun?: string;
}

/** The applied migrations a `down` should revert, newest first. */
export function selectForDown(
  applied: readonly AppliedMigration[],
  { to, step, revertRun }: DownSelection,
): AppliedMigration[] {
  const newestFirst = [...applied].reverse();
  if (revertRun !== undefined) {
    const ofRun = newestFirst.filter((row) => row.appliedBy === revertRun);
    const oldestOfRun = ofRun.at(-1);
    if (!oldestOfRun) return [];
    // Reverting a run whose migrations later runs built on would pull the floor from under them.
    const later = newestFirst
      .slice(0, newestFirst.indexOf(oldestOfRun))
      .filter((row) => row.appliedBy !== revertRun);
    if (later.length > 0) {
      throw new RollbackFailed(
        `Cannot revert run ${revertRun}: ${later.map((row) => `${row.name} (applied by ${row.appliedBy})`).join(', ')} ` +
          `came after it. Revert those first (migrate down --to), then this run.`,
        { migration: later[0]?.name ?? '', reverted: [], remaining: ofRun.map((row) => row.name) },
      );
    }
    return ofRun;
  }
  if (to !== undefined) {
    const index = applied.findIndex((row) => row.name === to || stripExtension(row.name) === to);
    if (index === -1) {
      throw new InvalidInput(
        `--to ${to}: that migration is not applied, so there is nothing to go back to.`,
        {
          field: 'to',
        },
      );
    }
    const after = applied.slice(index + 1).reverse();
    return step === undefined ? after : after.slice(0, step);
  }
  return newestFirst.slice(0, step ?? 1);
}
