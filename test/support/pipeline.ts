import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { folderResolveHandler, readFolderAsImage } from '../../cli/local/folderRelease.ts';
import {
  type LambdaHandler,
  type LocalHandlers,
  type LocalRunOptions,
  startLocalExecution,
} from '../../cli/local/stateMachine.ts';
import { type BundleRef, packBundle } from '../../functions/lib/bundle/bundle.ts';
import { type BundleStore, directoryBundleStore } from '../../functions/lib/bundle/store.ts';
import { FAKE_CREDENTIALS_ENV, REPOSITORY, SECRET_ARN, SERVICE_ARN } from './aws.ts';

export interface LoadedPipeline {
  handlers: LocalHandlers;
  /** MIGRATIONS_DIR as a bundle in the pipeline's store, for tests that call a handler directly. */
  bundle: BundleRef | undefined;
  notifications: { Subject: string; Message: string }[];
}

/**
 * Imports the three real handlers afresh with the given environment (as the template sets it), so
 * each test gets its own cold start: configuration, secret cache and clients.
 */
export async function loadPipeline(env: Record<string, string>): Promise<LoadedPipeline> {
  vi.resetModules();
  // Bundles stay in a folder of this test's, as in a local run; BUNDLE_BUCKET tests the S3 side.
  const bundleDir = env.BUNDLE_DIR ?? (await mkdtemp(join(tmpdir(), 'bundles-')));
  const environment: Record<string, string> = {
    BUNDLE_DIR: bundleDir,
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
  const [resolveImage, connectivity, migrate, deploy] = await Promise.all([
    import('../../functions/resolve-image/index.ts'),
    import('../../functions/connectivity-check/index.ts'),
    import('../../functions/migrate/index.ts'),
    import('../../functions/deploy/index.ts'),
  ]);
  const notifications: LoadedPipeline['notifications'] = [];
  const bundleStore = directoryBundleStore(bundleDir);
  return {
    notifications,
    bundle: environment.MIGRATIONS_DIR
      ? await bundleFolder(environment.MIGRATIONS_DIR, bundleStore)
      : undefined,
    handlers: {
      // MIGRATIONS_DIR: a folder stands in for the image's migrations, as in `npm start -- --dir`;
      // without it, the real resolve-image handler reads the image from its registry.
      resolveImage: environment.MIGRATIONS_DIR
        ? folderResolveHandler(
            environment.MIGRATIONS_DIR,
            bundleStore,
            environment.ECR_REPOSITORY_URI ?? REPOSITORY,
          )
        : (resolveImage.handler as unknown as LambdaHandler),
      connectivityCheck: connectivity.handler as unknown as LambdaHandler,
      migrate: migrate.handler as unknown as LambdaHandler,
      deploy: deploy.handler as unknown as LambdaHandler,
      notify: (notification) => {
        notifications.push(notification);
      },
    },
  };
}

export interface ExecutionOutcome {
  output: unknown;
  /** The execution's error (the one its Fail state or a failed state carried), if it failed. */
  error: (Error & { context?: Record<string, unknown> }) | undefined;
  executionArn: string;
  /** States entered and retried, in order, from the execution's event log. */
  entered: string[];
  retried: string[];
}

/** Runs the real state machine locally on the given handlers to its end, with short waits and retries. */
export async function runExecution(
  handlers: LocalHandlers,
  input: unknown,
  options: LocalRunOptions = {},
): Promise<ExecutionOutcome> {
  const execution = await startLocalExecution(input, handlers, { waitMs: 1, retryMs: 50, ...options });
  const entered: string[] = [];
  const retried: string[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      const state = (event as { state?: { name: string } }).state?.name;
      if (event.type === 'StateEntered' && state) entered.push(state);
      if (event.type === 'StateRetried' && state) retried.push(state);
    }
  })();
  const outcome = await execution.result.then(
    (output) => ({ output, error: undefined }),
    (error: Error & { cause?: Error }) => ({ output: undefined, error: error.cause ?? error }),
  );
  await collecting;
  return { ...outcome, executionArn: execution.executionArn, entered, retried };
}

/** The functions' environment for reaching the database by URL rather than through Secrets Manager. */
export function directDatabase(url: string): Record<string, string> {
  return { DATABASE_SECRET_ARN: '', DATABASE_URL: url };
}

/** The database by URL, and App Runner at a loopback endpoint (the SDK's real wire format). */
export function onLoopback(databaseUrl: string, appRunnerUrl: string): Record<string, string> {
  return {
    ...directDatabase(databaseUrl),
    AWS_ENDPOINT_URL_APPRUNNER: appRunnerUrl,
    ...FAKE_CREDENTIALS_ENV,
  };
}

/** A folder's migrations packed into `store` as ResolveImage would (none for an empty folder). */
export async function bundleFolder(dir: string, store: BundleStore): Promise<BundleRef | undefined> {
  const read = await readFolderAsImage(dir).catch(() => undefined);
  if (!read) return undefined;
  const { archive, ref } = packBundle(
    { image: { repository: REPOSITORY, digest: '' }, migrationsPath: read.migrationsPath },
    read.files,
  );
  await store.put(ref, archive);
  return ref;
}
