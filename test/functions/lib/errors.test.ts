import { describe, expect, it } from 'vitest';
import * as errors from '../../../functions/lib/errors.ts';
import { ErrorName, PipelineError, RETRYABLE_ERROR_NAMES } from '../../../functions/lib/errors.ts';

describe('the error-name contract', () => {
  it('pins every name the state machine and the runbook rely on', () => {
    expect(Object.values(ErrorName).sort()).toEqual([
      'AuthenticationFailed',
      'BundleInvalid',
      'BundleStoreUnreachable',
      'ConfigurationInvalid',
      'DatabaseNotFound',
      'DatabaseUnreachable',
      'DeploymentFailed',
      'ImageInvalid',
      'ImageNotFound',
      'InternalError',
      'InvalidInput',
      'LockTimeout',
      'MigrationDrift',
      'MigrationFailed',
      'MigrationInvalid',
      'MigrationLockBusy',
      'MigrationLockLost',
      'MigrationMissing',
      'MigrationOutOfOrder',
      'MigrationTimedOut',
      'MigrationsIrreversible',
      'MigrationsNotFound',
      'RegistryUnreachable',
      'ReleaseQueued',
      'ReleaseSuperseded',
      'RollbackFailed',
      'RollbackRefused',
      'SecretInvalid',
      'SecretsUnreachable',
      'ServiceBusy',
      'TlsError',
      'VerifyFailed',
    ]);
    expect([...RETRYABLE_ERROR_NAMES].sort()).toEqual(
      [
        'BundleStoreUnreachable',
        'DatabaseUnreachable',
        'LockTimeout',
        'MigrationLockBusy',
        'RegistryUnreachable',
        'ReleaseQueued',
        'SecretsUnreachable',
        'ServiceBusy',
      ].sort(),
    );
  });

  it('has one error class per name, whose instances carry that name', () => {
    for (const name of Object.values(ErrorName)) {
      const ErrorClass = (errors as unknown as Record<string, new (m: string, c: object) => PipelineError>)[
        name
      ];
      expect(ErrorClass, name).toBeTypeOf('function');
      const error = new (ErrorClass as new (m: string, c: object) => PipelineError)('message', {});
      expect(error.name).toBe(name);
      expect(error).toBeInstanceOf(PipelineError);
    }
  });
});
