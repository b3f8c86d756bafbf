import { readFileSync } from 'node:fs';
import { applyTlsPolicy } from './db/connectionUrl.ts';
import { CONFIGURABLE_TLS_MODES, type TlsMode, type TlsSettings } from './db/tls.ts';
import { parseDuration } from './duration.ts';
import { ConfigurationInvalid, InvalidInput } from './errors.ts';
import type { EndpointDefaults } from './secrets/databaseSecret.ts';

type Env = Record<string, string | undefined>;

/** How the database functions find and reach the database. */
export interface DatabaseConfig {
  /**
   * Where the credentials are: the Secrets Manager secret (deployed), or a connection URL given
   * directly (the local run: DATABASE_URL, or the embedded server), with DATABASE_TLS and
   * DATABASE_CA_BUNDLE written into it as sslmode and sslrootcert.
   */
  credentials: { secretArn: string } | { url: string };
  defaults: EndpointDefaults;
  /** The secret's TLS: DATABASE_TLS (default `require`) is the floor a URL in the secret may raise. */
  tls: TlsSettings;
  connectTimeoutSeconds: number;
  secretTtlMs: number;
  /** Subnets and security groups of the function, named in `DatabaseUnreachable` messages. */
  network: string | undefined;
}

/** The service a release deploys to: App Runner (the default) or ECS, one parameter apart. */
export type DeployTarget =
  | { kind: 'apprunner'; serviceArn: string }
  | { kind: 'ecs'; cluster: string; service: string; containerName: string };

/** Where the deploy function deploys, and which images it may deploy. */
export interface DeployConfig {
  /** Unset only when DEPLOY_DRY_RUN=true: the deploy step then says what it would have deployed. */
  target: DeployTarget | undefined;
  /** `<account>.dkr.ecr.<region>.amazonaws.com/<name>`: only images of this repository are deployed. */
  allowedRepository: string;
  /** A deployment still unfinished after this long fails `DeploymentFailed` (the rollback branch runs). */
  deployTimeoutMs: number;
  /**
   * The roles the template lets the deploy function pass (PASSABLE_ROLE_ARNS); the preflight refuses a
   * service that uses others. Undefined where no such list is set (the local run).
   */
  passableRoles: readonly string[] | undefined;
}

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/;
const SERVICE_ARN = /^arn:aws[a-z-]*:apprunner:[a-z0-9-]+:\d{12}:service\/[^/]+\/[0-9a-f]+$/;
// ECR, or a registry on this machine (a local run or a test reading images from a loopback registry).
const REPOSITORY =
  /^(?:\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?|(?:localhost|127(?:\.\d{1,3}){3}|\[::1\]):\d{1,5})\/[a-z0-9]+(?:[._/-][a-z0-9]+)*$/;
const ECS_NAME =
  /^(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(?:cluster|service)\/[A-Za-z0-9/_-]+|[A-Za-z0-9_-]{1,255})$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const CONTAINER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/** Reads and validates the database settings once; a wrong value fails `ConfigurationInvalid` naming the variable. */
export function readDatabaseConfig(env: Env): DatabaseConfig {
  const configuredMode = (env.DATABASE_TLS || undefined) as TlsMode | undefined;
  if (configuredMode !== undefined && !CONFIGURABLE_TLS_MODES.includes(configuredMode))
    fail('DATABASE_TLS', `must be one of ${CONFIGURABLE_TLS_MODES.join(', ')}`);
  const tls: TlsSettings = { mode: configuredMode ?? 'require' };
  if (env.DATABASE_CA_BUNDLE) {
    try {
      tls.ca = readFileSync(env.DATABASE_CA_BUNDLE, 'utf8');
    } catch {
      fail(
        'DATABASE_CA_BUNDLE',
        `names ${env.DATABASE_CA_BUNDLE}, which cannot be read: put the RDS global bundle in certs/rds-global-bundle.pem and build again`,
      );
    }
  }
  let credentials: DatabaseConfig['credentials'];
  if (!env.DATABASE_SECRET_ARN && env.DATABASE_URL) {
    // Without a floor the URL's sslmode decides, else the host's default: as the CLI chooses.
    const policy = { mode: configuredMode, caFile: env.DATABASE_CA_BUNDLE || undefined };
    credentials = { url: applyTlsPolicy(env.DATABASE_URL, policy).url };
  } else {
    credentials = {
      secretArn: required(env, 'DATABASE_SECRET_ARN', SECRET_ARN, 'a Secrets Manager secret ARN'),
    };
    // RDS certificates are signed by Amazon's own CAs, which Node does not trust by default.
    if ((tls.mode === 'verify-ca' || tls.mode === 'verify-full') && !tls.ca) {
      fail(
        'DATABASE_CA_BUNDLE',
        `must name a PEM bundle (e.g. the RDS global bundle) when DATABASE_TLS is ${tls.mode}`,
      );
    }
  }
  const port = env.DATABASE_PORT ? Number(env.DATABASE_PORT) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    fail('DATABASE_PORT', 'must be a port number');
  return {
    credentials,
    defaults: {
      ...(env.DATABASE_HOST ? { host: env.DATABASE_HOST } : {}),
      ...(port ? { port } : {}),
      ...(env.DATABASE_NAME ? { database: env.DATABASE_NAME } : {}),
    },
    tls,
    connectTimeoutSeconds: Math.max(1, Math.round(duration(env, 'DATABASE_CONNECT_TIMEOUT', 5_000) / 1000)),
    secretTtlMs: duration(env, 'SECRET_CACHE_TTL', 300_000),
    network: env.FUNCTION_NETWORK || undefined,
  };
}

/** The only repository whose images a release may deploy (the connectivity check refuses others early). */
export function readAllowedRepository(env: Env): string {
  return required(
    env,
    'ECR_REPOSITORY_URI',
    REPOSITORY,
    'an ECR repository URI (<account>.dkr.ecr.<region>.amazonaws.com/<name>), or a loopback registry for a local run',
  );
}

/**
 * MIGRATIONS_PATH: where the migrations are inside the images, when the stack says so; it wins over
 * an image's `io.migration-pipeline.migrations` label and the default `/app/migrations`.
 */
export function readMigrationsPath(env: Env): string | undefined {
  const path = env.MIGRATIONS_PATH;
  if (!path) return undefined;
  if (!/^\/[^\0]{0,1023}$/.test(path) || path.split('/').includes('..')) {
    fail('MIGRATIONS_PATH', 'must be an absolute path in the image, like /app/migrations');
  }
  return path;
}

/** RELEASE_MAX_DURATION: the state machine's TimeoutSeconds (2 h), after which a dead release's turn expires. */
export function readReleaseLifetime(env: Env): number {
  return duration(env, 'RELEASE_MAX_DURATION', 2 * 3_600_000);
}

export function readDeployConfig(env: Env): DeployConfig {
  const allowedRepository = readAllowedRepository(env);
  const deployTimeoutMs = duration(env, 'DEPLOY_TIMEOUT', 45 * 60_000);
  const passableRoles =
    env.PASSABLE_ROLE_ARNS === undefined
      ? undefined
      : env.PASSABLE_ROLE_ARNS.split(',')
          .map((role) => role.trim())
          .filter(Boolean);
  for (const role of passableRoles ?? []) {
    if (!ROLE_ARN.test(role)) fail('PASSABLE_ROLE_ARNS', 'must list IAM role ARNs, separated by commas');
  }
  // A dry run is asked for, never inferred: a stack with an empty service parameter must fail, not
  // "release" without deploying.
  if (env.DEPLOY_DRY_RUN === 'true')
    return { target: undefined, allowedRepository, deployTimeoutMs, passableRoles };
  const kind = env.DEPLOY_TARGET || 'apprunner';
  if (kind === 'ecs') {
    return {
      target: {
        kind,
        cluster: required(env, 'ECS_CLUSTER', ECS_NAME, 'the ECS cluster name or ARN'),
        service: required(env, 'ECS_SERVICE', ECS_NAME, 'the ECS service name or ARN'),
        containerName: required(
          env,
          'ECS_CONTAINER_NAME',
          CONTAINER_NAME,
          "the name of the app's container in the task definition",
        ),
      },
      allowedRepository,
      deployTimeoutMs,
      passableRoles,
    };
  }
  if (kind !== 'apprunner') fail('DEPLOY_TARGET', 'must be apprunner or ecs');
  const serviceArn = required(
    env,
    'APP_RUNNER_SERVICE_ARN',
    SERVICE_ARN,
    'an App Runner service ARN (arn:aws:apprunner:<region>:<account>:service/<name>/<id>), or set DEPLOY_DRY_RUN=true',
  );
  return { target: { kind: 'apprunner', serviceArn }, allowedRepository, deployTimeoutMs, passableRoles };
}

function required(env: Env, name: string, pattern: RegExp, what: string): string {
  const value = env[name];
  if (!value || !pattern.test(value))
    fail(name, value ? `must be ${what}` : `is not set; it must be ${what}`);
  return value as string;
}

function duration(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (!raw) return fallback;
  try {
    return parseDuration(raw, name);
  } catch (error) {
    if (error instanceof InvalidInput) fail(name, 'must be a duration like 5s or 10min');
    throw error;
  }
}

function fail(variable: string, problem: string): never {
  throw new ConfigurationInvalid(
    `The function's ${variable} ${problem}. Fix the stack parameter that sets it and deploy again.`,
    {
      variable,
    },
  );
}
