import { migrationsFromBundles, readBundleStore } from '../lib/bundleStoreConfig.ts';
import { readAllowedRepository, readDatabaseConfig, readReleaseLifetime } from '../lib/config.ts';
import { parseConnectivityEvent } from '../lib/contract/events.ts';
import { once, pipelineHandler } from '../lib/lambda.ts';
import { databaseConnector } from '../lib/lambdaDatabase.ts';
import { resolveSettings } from '../lib/migrations/settings.ts';
import { checkConnectivity } from '../lib/pipeline/checkConnectivity.ts';
import { systemClock } from '../lib/runtime.ts';

const config = once(() => ({
  database: readDatabaseConfig(process.env),
  allowedRepository: readAllowedRepository(process.env),
  settings: resolveSettings({}, process.env),
  longTransactionSeconds: Number(process.env.LONG_TRANSACTION_SECONDS ?? 60),
  releaseLifetimeMs: readReleaseLifetime(process.env),
  migrationsFor: migrationsFromBundles(readBundleStore(process.env)),
}));

/** Can the database be reached, authenticated and locked; what is pending; what would block DDL; then this release's turn. Changes no schema. */
export const handler = pipelineHandler('connectivity-check', async (event, _context, metrics) => {
  const request = parseConnectivityEvent(event);
  const { database, ...rest } = config();
  return checkConnectivity(request, {
    ...rest,
    openDatabase: databaseConnector(database, 'migration-pipeline connectivity-check'),
    clock: systemClock,
    metrics,
  });
});
