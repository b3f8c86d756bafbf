import type { LocalHandlers } from './stateMachine.ts';

/**
 * Loads the real handlers with the environment the template would give them, but local credentials.
 * Their configuration is read once per process, so a process runs one local release.
 */
export async function loadHandlers(env: Record<string, string>): Promise<LocalHandlers> {
  delete process.env.DATABASE_SECRET_ARN;
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', ...env });
  const [resolveImage, connectivity, migrate, deploy] = await Promise.all([
    import('../../functions/resolve-image/index.ts'),
    import('../../functions/connectivity-check/index.ts'),
    import('../../functions/migrate/index.ts'),
    import('../../functions/deploy/index.ts'),
  ]);
  return {
    resolveImage: resolveImage.handler as unknown as LocalHandlers['resolveImage'],
    connectivityCheck: connectivity.handler as unknown as LocalHandlers['connectivityCheck'],
    migrate: migrate.handler as unknown as LocalHandlers['migrate'],
    deploy: deploy.handler as unknown as LocalHandlers['deploy'],
    notify: () => {},
  };
}
