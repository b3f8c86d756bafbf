import { vi } from 'vitest';
import type { LambdaHandler, LocalHandlers } from '../../cli/local/stateMachine.ts';
import { REPOSITORY, SECRET_ARN, SERVICE_ARN } from './aws.ts';

export interface LoadedPipeline {
  handlers: LocalHandlers;
  notifications: { Subject: string; Message: string }[];
}

/**
 * Imports the three real handlers afresh with the given environment (as the template sets it), so
 * each test gets its own cold start: configuration, secret cache and clients.
 */
export async function loadPipeline(env: Record<string, string>): Promise<LoadedPipeline> {
  vi.resetModules();
  const environment: Record<string, string> = {
    DATABASE_SECRET_ARN: SECRET_ARN,
    DATABASE_TLS: 'disable',
    ECR_REPOSITORY_URI: REPOSITORY,
    APP_RUNNER_SERVICE_ARN: SERVICE_ARN,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    MIGRATION_DEADLINE_MARGIN: '5s',
    ...env,
  };
  for (const [key, value] of Object.entries(environment)) vi.stubEnv(key, value);
  const [connectivity, migrate, deploy] = await Promise.all([
    import('../../functions/connectivity-check/index.ts'),
    import('../../functions/migrate/index.ts'),
    import('../../functions/deploy/index.ts'),
  ]);
  const notifications: LoadedPipeline['notifications'] = [];
  return {
    notifications,
    handlers: {
      connectivityCheck: connectivity.handler as unknown as LambdaHandler,
      migrate: migrate.handler as unknown as LambdaHandler,
      deploy: deploy.handler as unknown as LambdaHandler,
      notify: (notification) => {
        notifications.push(notification);
      },
    },
  };
}
