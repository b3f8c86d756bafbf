import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Sql } from 'postgres';
import type { DatabaseConfig } from './config.ts';
import { connect } from './db/connection.ts';
import { AuthenticationFailed } from './errors.ts';
import { systemClock } from './runtime.ts';
import { cachedSecretReader, parseDatabaseSecret, type SecretReader } from './secrets/databaseSecret.ts';

/**
 * The database functions' way to the database: the secret (cached across warm invocations) or, in the
 * local run, DATABASE_URL; then one session. Apart from lambda.ts so that the deploy function's bundle carries no Secrets Manager client.
 */

const secretsManager = new SecretsManagerClient({
  // A function in a VPC without a route to Secrets Manager hangs until these time out.
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 },
});
let secretReader: SecretReader | undefined;

/** Opens the run's single database session: from the secret (cached across warm invocations), or the local URL. */
export function databaseConnector(config: DatabaseConfig, applicationName: string): () => Promise<Sql> {
  const options = {
    connectTimeoutSeconds: config.connectTimeoutSeconds,
    applicationName,
    network: config.network,
  };
  const { credentials } = config;
  if ('url' in credentials) return () => connect(credentials.url, options);
  secretReader ??= cachedSecretReader(secretsManager, { ttlMs: config.secretTtlMs, clock: systemClock });
  const readSecret = secretReader;
  const connectWith = async (fresh: boolean) => {
    const endpoint = parseDatabaseSecret(await readSecret(credentials.secretArn, { fresh }), {
      secretArn: credentials.secretArn,
      defaults: config.defaults,
      tls: config.tls,
    });
    return connect(endpoint, options);
  };
  return async () => {
    try {
      return await connectWith(false);
    } catch (error) {
      // The password was rotated since the secret was cached: read it again, once.
      if (!(error instanceof AuthenticationFailed)) throw error;
      return connectWith(true);
    }
  };
}
