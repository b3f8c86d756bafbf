import { describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { DEFAULT_SETTINGS, resolveSettings } from '../../../../functions/lib/migrations/index.ts';
import { lockTimeoutFor, pauseAfter } from '../../../../functions/lib/migrations/lockRetry.ts';

describe('engine settings', () => {
  it('reads the MIGRATION_* environment and lets flags override it', () => {
    const settings = resolveSettings(
      { lockTimeoutMaxMs: '2s' },
      {
        MIGRATION_LOCK_TIMEOUT: '5s',
        MIGRATION_STATEMENT_TIMEOUT: '10min',
        MIGRATION_HISTORY_TABLE: 'ops.history',
      },
    );

    expect(settings).toEqual({
      ...DEFAULT_SETTINGS,
      lockTimeoutMaxMs: 2000,
      statementTimeoutMs: 600_000,
      historyTable: 'ops.history',
    });
  });

  it('by default keeps a deadline margin of the worst a migration can take, so none is cut in half', () => {
    expect(resolveSettings({ statementTimeoutMs: '2min', lockRetryBudgetMs: '60s' }).deadlineMarginMs).toBe(
      120_000 + 60_000 + 30_000,
    );
    expect(resolveSettings({}, { MIGRATION_DEADLINE_MARGIN: '45s' }).deadlineMarginMs).toBe(45_000);
  });

  it('refuses unknown keys, bad durations, bad table names and an initial timeout above the cap', () => {
    const attempts = [
      () => resolveSettings({ lockTimeot: '1s' } as never),
      () => resolveSettings({ lockWaitMs: 'soon' }),
      () => resolveSettings({ historyTable: 'drop table x;' }),
      () => resolveSettings({ lockTimeoutInitialMs: '2s', lockTimeoutMaxMs: '1s' }),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrowError(expect.objectContaining({ name: ErrorName.InvalidInput }));
    }
  });
});

describe('the lock-timeout schedule', () => {
  it('starts at the initial timeout and grows by half each attempt up to the cap', () => {
    const schedule = Array.from({ length: 8 }, (_, attempt) => lockTimeoutFor(attempt, DEFAULT_SETTINGS));

    expect(schedule).toEqual([100, 150, 225, 338, 506, 759, 1000, 1000]);
  });

  it('pauses between half and one and a half times the last lock timeout', () => {
    expect(pauseAfter(1000, () => 0)).toBe(500);
    expect(pauseAfter(1000, () => 0.999)).toBe(1499);
  });
});
