import { ErrorName } from '../functions/lib/errors.ts';
import type { Clock } from '../functions/lib/migrations/index.ts';
import type { CliIo } from './io.ts';

/**
 * Runs `attempt`, and while it fails `MigrationLockBusy` (another run is migrating), waits with
 * exponential backoff and tries again, printing each wait, up to `retries` more times.
 */
export async function retryWhileLockBusy<T>(
  attempt: () => Promise<T>,
  {
    retries,
    io,
    clock,
    firstWaitMs = 2000,
  }: { retries: number; io: CliIo; clock: Clock; firstWaitMs?: number },
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if ((error as Error).name !== ErrorName.MigrationLockBusy || retry >= retries) throw error;
      const waitMs = firstWaitMs * 2 ** retry;
      io.stderr(
        `Another run holds the migration lock; waiting ${Math.round(waitMs / 1000)} s before trying again (retry ${retry + 1} of ${retries}).\n`,
      );
      await clock.sleep(waitMs);
    }
  }
}
