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

  it('reads the deploy target, App Runner or ECS, and the allowed repository', () => {
    expect(readDeployConfig({ APP_RUNNER_SERVICE_ARN: SERVICE_ARN, ECR_REPOSITORY_URI: REPOSITORY })).toEqual(
      {
        target: { kind: 'apprunner', serviceArn: SERVICE_ARN },
        allowedRepository: REPOSITORY,
        deployTimeoutMs: 2_700_000,
      },
    );
    const ecs = {
      DEPLOY_TARGET: 'ecs',
      ECS_CLUSTER: 'prod',
      ECS_SERVICE: 'buffet',
      ECR_REPOSITORY_URI: REPOSITORY,
    };
    expect(readDeployConfig({ ...ecs, ECS_CONTAINER_NAME: 'app' })).toEqual({
      target: { kind: 'ecs', cluster: 'prod', service: 'buffet', containerName: 'app' },
      allowedRepository: REPOSITORY,
      deployTimeoutMs: 2_700_000,
    });
    expect(
      readDeployConfig({ DEPLOY_DRY_RUN: 'true', ECR_REPOSITORY_URI: REPOSITORY }).target,
    ).toBeUndefined();
    const refusals: [Record<string, string>, string][] = [
      [{ ECR_REPOSITORY_URI: 'nginx' }, 'ECR_REPOSITORY_URI'],
      [{ ECR_REPOSITORY_URI: REPOSITORY }, 'APP_RUNNER_SERVICE_ARN'],
      [{ DEPLOY_TARGET: 'ecs', ECS_CONTAINER_NAME: 'app', ECR_REPOSITORY_URI: REPOSITORY }, 'ECS_CLUSTER'],
      [ecs, 'ECS_CONTAINER_NAME'],
      [{ DEPLOY_TARGET: 'kubernetes', ECR_REPOSITORY_URI: REPOSITORY }, 'DEPLOY_TARGET'],
      [{ APP_RUNNER_SERVICE_ARN: 'my-service', ECR_REPOSITORY_URI: REPOSITORY }, 'APP_RUNNER_SERVICE_ARN'],
    ];
    for (const [env, variable] of refusals) {
      expect(() => readDeployConfig(env), variable).toThrowError(
        expect.objectContaining({ context: { variable } }),
      );
    }
  });
});
