/**
 * Time and logging, passed to every step as arguments: the Lambdas give the Powertools Logger and
 * the invocation's clock, the CLI its printer, tests their own.
 */

/** The logging the steps need; the Powertools Logger and the CLI's printer both fit. */
export interface Log {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

/** Time, passed in so that tests and the Lambda's deadline agree on it. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const silentLog: Log = { info() {}, warn() {} };
