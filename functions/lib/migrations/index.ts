export { type Clock, type Log, silentLog, systemClock } from '../runtime.ts';
export { type BaselineResult, migrateBaseline } from './baseline.ts';
export { type BatchOptions, type BatchResult, runInBatches } from './batches.ts';
export { createDriver, type DriverOptions, type DriverSession, type LeyDriver } from './driver.ts';
export {
  type DownResult,
  type MigrateOptions,
  migrateDown,
  migrateStatus,
  migrateUp,
  newRunId,
  type StatusResult,
  type UpResult,
} from './engine.ts';
export { listMigrationFiles, type MigrationFile } from './files.ts';
export type { AppliedMigration } from './history.ts';
export type { DownSelection, UpSelection } from './plan.ts';
export { DEFAULT_SETTINGS, type EngineSettings, resolveSettings, SETTING_ENV } from './settings.ts';
export type { MigrationContext } from './types.ts';
