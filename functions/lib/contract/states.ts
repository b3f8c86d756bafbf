import type * as z from 'zod/mini';
import { type ErrorName, ErrorName as Names } from '../errors.ts';
import {
  connectivityEventSchema,
  deployEventSchema,
  migrateEventSchema,
  type ReleaseOutcome,
  resolveEventSchema,
} from './events.ts';

/**
 * The contract between the Lambdas and the state machine, per Task state: which function it calls
 * (and with which action), the schema of the event it sends, the error names its Retry retries and
 * its Catch catches, and those deliberately left uncaught so that a redrive resumes the state.
 * `statemachine/pipeline.asl.json` is tested against this table, state by state; the local run binds
 * its Tasks from it; docs/operations.md describes it.
 */

export type PipelineFunction = 'resolve-image' | 'connectivity-check' | 'migrate' | 'deploy';

export interface TaskContract {
  function: PipelineFunction;
  /** Literal fields the state's Parameters send (the action, an outcome). */
  sends: Readonly<Record<string, string>>;
  event: z.ZodMiniType;
  /** Retried with backoff: waiting may fix them. */
  retried: readonly ErrorName[];
  /** Caught after their retries, into the failure branch. */
  caught: readonly (ErrorName | RuntimeErrorName | 'States.ALL')[];
  /** Neither caught nor ignored: the execution fails in this state, and a redrive resumes it here. */
  leftForRedrive: readonly ErrorName[];
}

/** What Lambda itself reports when the invocation, not our code, failed. Retried on every Task. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/**
 * Failures with no name of ours: the function timed out or crashed (`Sandbox.Timedout`,
 * `Lambda.Unknown`), or the Task outlived its TimeoutSeconds (`States.Timeout`).
 */
export const RUNTIME_ERRORS = ['Sandbox.Timedout', 'Lambda.Unknown', 'States.Timeout'] as const;
export type RuntimeErrorName = (typeof RUNTIME_ERRORS)[number];

const CONNECTION_SETUP: readonly ErrorName[] = [
  Names.ConfigurationInvalid,
  Names.SecretInvalid,
  Names.AuthenticationFailed,
  Names.DatabaseNotFound,
  Names.TlsError,
];
const HISTORY_PROBLEMS: readonly ErrorName[] = [
  Names.MigrationDrift,
  Names.MigrationMissing,
  Names.MigrationOutOfOrder,
  Names.MigrationInvalid,
  Names.BundleInvalid,
];
const DATABASE_WAITS: readonly ErrorName[] = [Names.DatabaseUnreachable, Names.SecretsUnreachable];
/** The steps that read the release's migrations bundle wait for its store as for the database. */
const BUNDLE_AND_DATABASE_WAITS: readonly ErrorName[] = [...DATABASE_WAITS, Names.BundleStoreUnreachable];
const UNEXPECTED = [Names.InternalError, ...RUNTIME_ERRORS] as const;

/**
 * What RollbackMigrations may fail with and still leave a consistent schema: a later release runs on
 * it, or its forward-only migrations (and those before them) stay applied under the previous app.
 * Caught as a failed release (notified, its turn passed on); every other name it catches is a failed
 * rollback (ROLLBACK FAILED, the turn held until a person frees it).
 */
export const ROLLBACK_LEFT_CONSISTENT: readonly ErrorName[] = [
  Names.RollbackRefused,
  Names.MigrationsIrreversible,
];

const endRelease = (outcome: ReleaseOutcome): TaskContract => ({
  function: 'migrate',
  sends: { action: 'end', outcome },
  event: migrateEventSchema,
  retried: DATABASE_WAITS,
  // The release's outcome stands whatever happens here: its turn then ends when it expires.
  caught: ['States.ALL'],
  leftForRedrive: [],
});

/** A deploy step after the deployment started: busy is retried; any failure goes to the failure branch. */
const deployTask = (action: string): TaskContract => ({
  function: 'deploy',
  sends: { action },
  event: deployEventSchema,
  retried: [Names.ServiceBusy],
  caught: ['States.ALL'],
  leftForRedrive: [],
});

export const TASK_CONTRACT = {
  ResolveImage: {
    function: 'resolve-image',
    sends: {},
    event: resolveEventSchema,
    retried: [Names.RegistryUnreachable, Names.BundleStoreUnreachable],
    // Nothing has changed yet: whatever fails (after the retries), notify and stop.
    caught: ['States.ALL'],
    leftForRedrive: [],
  },
  CheckConnectivity: {
    function: 'connectivity-check',
    sends: {},
    event: connectivityEventSchema,
    retried: [...BUNDLE_AND_DATABASE_WAITS, Names.ReleaseQueued],
    caught: [
      Names.InvalidInput,
      ...CONNECTION_SETUP,
      ...HISTORY_PROBLEMS,
      Names.ReleaseQueued,
      Names.ReleaseSuperseded,
      ...UNEXPECTED,
    ],
    leftForRedrive: BUNDLE_AND_DATABASE_WAITS,
  },
  PreflightDeploy: {
    function: 'deploy',
    sends: { action: 'preflight' },
    event: deployEventSchema,
    retried: [Names.ServiceBusy],
    // Nothing has changed yet: whatever fails, notify and stop.
    caught: ['States.ALL'],
    leftForRedrive: [],
  },
  Migrate: {
    function: 'migrate',
    sends: { action: 'up' },
    event: migrateEventSchema,
    retried: [Names.MigrationLockBusy, Names.LockTimeout, ...BUNDLE_AND_DATABASE_WAITS],
    caught: ['States.ALL'],
    leftForRedrive: [],
  },
  Deploy: deployTask('start'),
  PollDeployment: deployTask('status'),
  EndReleaseReleased: endRelease('released'),
  RestoreService: deployTask('restore'),
  PollRestore: deployTask('status'),
  RollbackMigrations: {
    function: 'migrate',
    sends: { action: 'rollback' },
    event: migrateEventSchema,
    retried: [Names.MigrationLockBusy, Names.LockTimeout, ...BUNDLE_AND_DATABASE_WAITS],
    caught: [
      ...ROLLBACK_LEFT_CONSISTENT,
      Names.RollbackFailed,
      Names.MigrationFailed,
      Names.MigrationTimedOut,
      Names.MigrationLockLost,
      Names.MigrationLockBusy,
      Names.LockTimeout,
      ...CONNECTION_SETUP,
      ...HISTORY_PROBLEMS,
      Names.InvalidInput,
      ...UNEXPECTED,
    ],
    leftForRedrive: BUNDLE_AND_DATABASE_WAITS,
  },
  EndReleaseFailed: endRelease('failed'),
  EndReleaseRollbackFailed: endRelease('rollback_failed'),
} satisfies Record<string, TaskContract>;

export type TaskStateName = keyof typeof TASK_CONTRACT;
