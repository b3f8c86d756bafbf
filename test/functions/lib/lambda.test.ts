import { describe, expect, it } from 'vitest';
import { ErrorName } from '../../../functions/lib/errors.ts';
import { pipelineHandler } from '../../../functions/lib/lambda.ts';

const context = (remainingMs: number) => {
  const deadline = Date.now() + remainingMs;
  return { awsRequestId: 'r-1', functionName: 'f', getRemainingTimeInMillis: () => deadline - Date.now() };
};
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error & { context?: unknown }) => error,
  );

describe("the handlers' wrapper", () => {
  it('names what has no name of ours InternalError, keeping the original name', async () => {
    const handler = pipelineHandler('test', async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'x')");
    });

    const error = await failure(handler({}, context(10_000) as never));

    expect(error?.name).toBe(ErrorName.InternalError);
    expect(error?.context).toEqual({ originalName: 'TypeError' });
    expect(error?.message).toContain("reading 'x'");
  });

  it('answers a handler that runs out of time with InternalError, not an unnamed TimeoutError', async () => {
    const handler = pipelineHandler('test', () => new Promise(() => {}));

    const error = await failure(handler({}, context(50) as never));

    expect(error?.name).toBe(ErrorName.InternalError);
    expect(error?.context).toEqual({ originalName: 'TimeoutError' });
  });
});
