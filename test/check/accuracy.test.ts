import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { type CorpusScore, scoreCorpus } from './accuracy.ts';
import { CHECK_CORPUS } from './corpus.ts';

/**
 * `check` on the labelled corpus, as `npm run bench` reports it: it fails the dangerous migrations
 * and passes the safe ones, with the advice that fits each, and does better than squawk alone.
 */
describe('check on the labelled corpus', () => {
  let target: TestDatabase;
  let score: CorpusScore;
  beforeAll(async () => {
    target = await createTestDatabase();
    score = await scoreCorpus(target.url, CHECK_CORPUS);
  }, 300_000);
  afterAll(async () => {
    await target?.drop();
  });

  it('catches the dangerous ones: recall >= 0.95', () => {
    expect(score.check.misses).toEqual([]);
    expect(score.check.recall).toBeGreaterThanOrEqual(0.95);
  });

  it('fails only dangerous ones, with at most 3 warnings over all the safe ones: precision >= 0.95', () => {
    expect(score.check.falseAlarms).toEqual([]);
    expect(score.check.precision).toBeGreaterThanOrEqual(0.95);
    expect(score.check.safeWarnings).toBeLessThanOrEqual(3);
  });

  it('gives each finding the advice that fits its operation', () => {
    expect(score.check.wrongAdvice).toEqual([]);
  });

  it('does better than squawk alone on the same SQL', () => {
    expect(score.check.precision).toBeGreaterThan(score.squawk.precision);
    expect(score.check.recall).toBeGreaterThanOrEqual(score.squawk.recall);
  });
});
