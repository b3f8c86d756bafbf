import { migrationsFromBundles, readBundleStore } from '../lib/bundleStoreConfig.ts';
import { readDatabaseConfig } from '../lib/config.ts';
import { parseMigrateEvent } from '../lib/contract/events.ts';
import { log, once, pipelineHandler } from '../lib/lambda.ts';
import { databaseConnector } from '../lib/lambdaDatabase.ts';
import { resolveSettings } from '../lib/migrations/settings.ts';
import { runMigrateStep } from '../lib/pipeline/migrateStep.ts';
import { systemClock } from '../lib/runtime.ts';

const config = once(() => ({
  database: readDatabaseConfig(process.env),
  settings: resolveSettings({}, process.env),
  migrationsFor: migrationsFromBundles(readBundleStore(process.env)),
}));

/** `{ action: "up" }` applies pending migrations in the time left; `{ action: "rollback" }` reverts this execution's. */
export const handler = pipelineHandler('migrate', async (event, context, metrics) => {
  const request = parseMigrateEvent(event);
  const { database, settings, migrationsFor } = config();
  return runMigrateStep(request, {
    openDatabase: databaseConnector(database, `migration-pipeline migrate ${request.action}`),
    migrationsFor,
    settings,
    deadline: systemClock.now() + context.getRemainingTimeInMillis(),
    clock: systemClock,
    log,
    metrics,
  });
});
