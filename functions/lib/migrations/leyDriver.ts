/**
 * Our driver as a module for ley's own CLI, so a ley user adopts it without changing anything else:
 *
 *   DATABASE_URL=postgres://... ley up --driver "$PWD/functions/lib/migrations/leyDriver.ts"
 *
 * The connection comes from ley's config (`connection` or a URL string) or DATABASE_URL; the folder
 * checked for drift from MIGRATIONS_DIR (ley's default, `migrations`); settings from the MIGRATION_*
 * variables; the run id from MIGRATION_RUN_ID.
 */

import { systemClock } from '../runtime.ts';
import { createDriver } from './driver.ts';
import { newRunId } from './engine.ts';
import { resolveSettings } from './settings.ts';

const driver = createDriver({
  migrationsDir: process.env.MIGRATIONS_DIR ?? 'migrations',
  runId: process.env.MIGRATION_RUN_ID ?? newRunId('ley'),
  settings: resolveSettings({}, process.env),
  clock: systemClock,
  log: {
    info: (message) => console.log(`[migration-pipeline] ${message}`),
    warn: (message) => console.warn(`[migration-pipeline] ${message}`),
  },
});

export const { connect, setup, loop, end } = driver;
