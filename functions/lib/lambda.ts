import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { InternalError, PipelineError } from './errors.ts';
import type { MetricsRecorder } from './pipeline/metrics.ts';
import type { Log } from './runtime.ts';

/**
 * What the three handlers share: JSON logs with the execution name as correlation id, EMF metrics,
 * and one log line per failure with its stable name. Handlers stay wiring only.
 */
export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
}

export const logger = new Logger({ serviceName: 'migration-pipeline' });

/** The engine's Log, written as structured JSON by the Powertools Logger. */
export const log: Log = {
  info: (message, extra) => (extra ? logger.info(message, extra as LogAttributes) : logger.info(message)),
  warn: (message, extra) => (extra ? logger.warn(message, extra as LogAttributes) : logger.warn(message)),
};

export function pipelineHandler<Result>(
  functionName: string,
  body: (event: unknown, context: LambdaContextLike, metrics: MetricsRecorder) => Promise<Result>,
) {
  // Metrics' own warnings (e.g. nothing to publish after an early failure) go through the JSON logger.
  const metrics = new Metrics({ namespace: 'MigrationPipeline', serviceName: functionName, logger });
  const recorder: MetricsRecorder = {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    milliseconds: (name, value) => metrics.addMetric(name, MetricUnit.Milliseconds, value),
  };
  // When the invocation is about to time out, middy answers for the handler: with a contract name,
  // not its own unnamed TimeoutError. (The migrate step answers before this, with MigrationTimedOut.)
  const timeoutEarlyResponse = () => {
    throw new InternalError(
      `${functionName} ran out of time before it could answer; look at its log for what it was waiting for.`,
      { originalName: 'TimeoutError' },
    );
  };
  return middy(
    async (event: unknown, context: LambdaContextLike) => {
      const executionName = (event as { executionName?: unknown } | null)?.executionName;
      if (typeof executionName === 'string') logger.setCorrelationId(executionName.slice(0, 80));
      try {
        return await body(event, context, recorder);
      } catch (caught) {
        // Named errors are the state machine's contract; anything else gets the contract's InternalError,
        // so that it is caught and notified rather than ending the execution unnamed.
        const error = caught instanceof PipelineError ? caught : asInternalError(caught, functionName);
        logger.error(`${functionName} failed: ${error.name}`, {
          errorName: error.name,
          errorMessage: error.message,
          context: error.context,
        });
        throw error;
      }
    },
    { timeoutEarlyResponse },
  )
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}

function asInternalError(error: unknown, functionName: string): InternalError {
  const original = error instanceof Error ? error : new Error(String(error));
  return new InternalError(
    `${functionName} failed unexpectedly (${original.name}: ${original.message.slice(0, 500)}). ` +
      "This is a bug or an unforeseen condition: look at the function's log for this execution, and report it.",
    { originalName: original.name },
    { cause: error },
  );
}

/** Reads the configuration on first use and keeps it: validated once per cold start, named errors on the first call. */
export function once<T>(read: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: read() };
    return value.v;
  };
}
