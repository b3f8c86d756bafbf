import { describe, expect, it } from 'vitest';
import { readDatabaseConfig, readDeployConfig } from '../../../functions/lib/config.ts';
import { ErrorName } from '../../../functions/lib/errors.ts';
import { REPOSITORY, SECRET_ARN, SERVICE_ARN } from '../../support/aws.ts';

describe('function configuration', () => {
  it('reads the database settings the template sets, with TLS required by default', () => {
    const config = readDatabaseConfig({
      DATABASE_SECRET_ARN: SECRET_ARN,
      DATABASE_HOST: 'db.internal',
      DATABASE_PORT: '6543',
    });

    expect(config).toMatchObject({
      credentials: { secretArn: SECRET_ARN },
      defaults: { host: 'db.internal', port: 6543 },
      tls: { mode: 'require' },
      connectTimeoutSeconds: 5,
      secretTtlMs: 300_000,
    });
  });

  it('uses DATABASE_URL when no secret is configured (the local run)', () => {
    expect(readDatabaseConfig({ DATABASE_URL: 'postgres://a:b@localhost/db' }).credentials).toEqual({
      url: 'postgres://a:b@localhost/db',
    });
  });

  it('fails ConfigurationInvalid naming the variable to fix', () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'DATABASE_SECRET_ARN'],
      [{ DATABASE_SECRET_ARN: 'my-secret' }, 'DATABASE_SECRET_ARN'],
      [{ DATABASE_SECRET_ARN: SECRET_ARN, DATABASE_TLS: 'prefer' }, 'DATABASE_TLS'],
      [{ DATABASE_SECRET_ARN: SECRET_ARN, DATABASE_TLS: 'verify-full' }, 'DATABASE_CA_BUNDLE'],
      [{ DATABASE_SECRET_ARN: SECRET_ARN, DATABASE_CA_BUNDLE: '/nonexistent.pem' }, 'DATABASE_CA_BUNDLE'],
      [{ DATABASE_SECRET_ARN: SECRET_ARN, DATABASE_PORT: 'http' }, 'DATABASE_PORT'],
      [{ DATABASE_SECRET_ARN: SECRET_ARN, SECRET_CACHE_TTL: 'forever' }, 'SECRET_CACHE_TTL'],
    ];
    for (const [env, variable] of cases) {
      expect(() => readDatabaseConfig(env), variable).toThrowError(
        expect.objectContaining({ name: ErrorName.ConfigurationInvalid, context: { variable } }),
      );
    }
  });

  it('reads the deploy target and the allowed repository', () => {
    expect(readDeployConfig({ APP_RUNNER_SERVICE_ARN: SERVICE_ARN, ECR_REPOSITORY_URI: REPOSITORY })).toEqual(
      {
        appRunnerServiceArn: SERVICE_ARN,
        allowedRepository: REPOSITORY,
      },
    );
    expect(readDeployConfig({ ECR_REPOSITORY_URI: REPOSITORY }).appRunnerServiceArn).toBeUndefined();
    expect(() => readDeployConfig({ ECR_REPOSITORY_URI: 'nginx' })).toThrowError(
      expect.objectContaining({ context: { variable: 'ECR_REPOSITORY_URI' } }),
    );
  });
});
