import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { StateMachine } from 'aws-local-stepfunctions';
import { type PipelineFunction, TASK_CONTRACT } from '../../functions/lib/contract/states.ts';

/** An execution event (StateEntered, StateRetried, ExecutionFailed...), as aws-local-stepfunctions logs it. */
export type EventLog =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** The definition file, as `DefinitionUri` in template.yaml names it. */
const DEFINITION_PATH = new URL('../../statemachine/pipeline.asl.json', import.meta.url);

/** The `${...}` substitutions the template passes (`DefinitionSubstitutions`). */
export const SUBSTITUTIONS = [
  'ResolveImageFunctionArn',
  'ConnectivityCheckFunctionArn',
  'MigrateFunctionArn',
  'DeployFunctionArn',
  'NotificationTopicArn',
] as const;

export type Substitutions = Record<(typeof SUBSTITUTIONS)[number], string>;

/** Reads the definition and replaces each `${Name}` as CloudFormation would. An unknown placeholder is an error. */
export async function loadDefinition(substitutions: Substitutions): Promise<Record<string, unknown>> {
  const text = await readFile(DEFINITION_PATH, 'utf8');
  const replaced = text.replace(/\$\{([A-Za-z0-9]+)\}/g, (placeholder, name: string) => {
    const value = substitutions[name as keyof Substitutions];
    if (value === undefined)
      throw new Error(`pipeline.asl.json uses ${placeholder}, which has no substitution.`);
    return value;
  });
  return JSON.parse(replaced) as Record<string, unknown>;
}

/** Placeholder ARNs for running locally: the Tasks are bound to in-process handlers, never called. */
const LOCAL_SUBSTITUTIONS: Substitutions = {
  ResolveImageFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:resolve-image',
  ConnectivityCheckFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:connectivity-check',
  MigrateFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:migrate',
  DeployFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:deploy',
  NotificationTopicArn: 'arn:aws:sns:us-east-1:000000000000:migration-pipeline-local',
};

/** A Lambda handler as the runtime calls it (middy handlers take the event and the context). */
export type LambdaHandler = (event: unknown, context: LocalLambdaContext) => Promise<unknown>;

/** The parts of the Lambda context our handlers and Powertools read. */
export interface LocalLambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

export interface LocalHandlers {
  /** The real resolve-image handler, or (a local run from a folder) a function reading that folder. */
  resolveImage: LambdaHandler;
  connectivityCheck: LambdaHandler;
  migrate: LambdaHandler;
  deploy: LambdaHandler;
  /** Stands in for SNS: receives what the state machine publishes. */
  notify: (notification: { TopicArn: string; Subject: string; Message: string }) => Promise<void> | void;
}

export interface LocalRunOptions {
  executionName?: string;
  /** Wait states take this many ms instead of their seconds (shortened, not skipped). */
  waitMs?: number;
  /** Each Retry waits this many ms instead of its interval. */
  retryMs?: number;
  /**
   * Make this Task state fail, to watch the rollback branch: after its real work for the database
   * states (so there is something to roll back), instead of it for the deploy states.
   */
  failAt?: string;
  /** Each function's timeout, as the template sets it: the handler sees its remaining time. */
  timeoutsMs?: Partial<Record<'resolveImage' | 'connectivityCheck' | 'migrate' | 'deploy', number>>;
}

export interface LocalExecution {
  executionArn: string;
  executionName: string;
  /** What each Task state's last attempt failed with, for progress lines on retries. */
  lastFailure(state: string): { error: string; cause: string } | undefined;
  result: Promise<unknown>;
  eventLogs: AsyncGenerator<EventLog>;
}

const HANDLER_OF: Record<PipelineFunction, keyof Omit<LocalHandlers, 'notify'>> = {
  'resolve-image': 'resolveImage',
  'connectivity-check': 'connectivityCheck',
  migrate: 'migrate',
  deploy: 'deploy',
};

/** Each Task state's handler, from the contract (the function each state calls). */
export const TASK_BINDINGS: Record<string, keyof Omit<LocalHandlers, 'notify'>> = Object.fromEntries(
  Object.entries(TASK_CONTRACT).map(([state, contract]) => [state, HANDLER_OF[contract.function]]),
);

const DEFAULT_TIMEOUTS_MS = {
  resolveImage: 300_000,
  connectivityCheck: 120_000,
  migrate: 900_000,
  deploy: 60_000,
};

/**
 * Runs the real `statemachine/pipeline.asl.json` with aws-local-stepfunctions, every Task bound
 * in-process to the real handler code, the SNS Tasks to `notify`.
 */
export async function startLocalExecution(
  input: unknown,
  handlers: LocalHandlers,
  options: LocalRunOptions = {},
): Promise<LocalExecution> {
  const definition = await loadDefinition(LOCAL_SUBSTITUTIONS);
  const machine = new StateMachine(definition as never);
  const executionName = options.executionName ?? `local-${randomUUID()}`;
  const executionArn = `arn:aws:states:us-east-1:000000000000:execution:migration-pipeline:${executionName}`;
  const states = Object.keys((definition as { States: Record<string, { Type: string }> }).States);
  const taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [state, handlerName] of Object.entries(TASK_BINDINGS)) {
    const timeoutMs = options.timeoutsMs?.[handlerName] ?? DEFAULT_TIMEOUTS_MS[handlerName];
    taskHandlers[state] = (event) => handlers[handlerName](event, lambdaContext(handlerName, timeoutMs));
  }
  const failures = new Map<string, { error: string; cause: string }>();
  for (const [state, handler] of Object.entries(taskHandlers)) {
    taskHandlers[state] = async (event) => {
      try {
        return await handler(event);
      } catch (error) {
        failures.set(state, { error: (error as Error).name, cause: (error as Error).message });
        throw error;
      }
    };
  }
  if (options.failAt) {
    const state = options.failAt;
    const real = taskHandlers[state];
    if (!real)
      throw new Error(
        `--fail-at ${state}: not a Task state bound to a handler (${Object.keys(TASK_BINDINGS).join(', ')}).`,
      );
    taskHandlers[state] = async (event) => {
      if (TASK_BINDINGS[state] !== 'deploy') await real(event);
      throw Object.assign(new Error(`--fail-at ${state}: failing on purpose to show the rollback branch.`), {
        name: 'InjectedFailure',
      });
    };
  }
  taskHandlers.NotifyFailure = taskHandlers.NotifyRollbackFailed = async (parameters) => {
    await handlers.notify(parameters as { TopicArn: string; Subject: string; Message: string });
    return {};
  };
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers as never,
      ...(options.waitMs !== undefined
        ? { waitTimeOverrides: Object.fromEntries(states.map((s) => [s, options.waitMs as number])) }
        : {}),
      ...(options.retryMs !== undefined
        ? { retryIntervalOverrides: Object.fromEntries(states.map((s) => [s, options.retryMs as number])) }
        : {}),
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: executionName,
        Input: input as never,
        StartTime: new Date().toISOString(),
      },
      StateMachine: {
        Id: 'arn:aws:states:us-east-1:000000000000:stateMachine:migration-pipeline',
        Name: 'migration-pipeline',
      },
    },
  });
  return {
    executionArn,
    executionName,
    lastFailure: (state) => failures.get(state),
    result: execution.result,
    eventLogs: execution.eventLogs,
  };
}

function lambdaContext(functionName: string, timeoutMs: number): LocalLambdaContext {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}
