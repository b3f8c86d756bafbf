import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseConnectivityEvent,
  parseDeployEvent,
  parseMigrateEvent,
  parsePipelineInput,
  parseResolveEvent,
} from '../../../../functions/lib/contract/events.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';

const sample = (name: string) => JSON.parse(readFileSync(`events/${name}.json`, 'utf8'));

describe('the sample events in events/', () => {
  it('are each accepted by their handler', () => {
    expect(parsePipelineInput(sample('pipeline-input')).source).toBe('ci');
    expect(parseResolveEvent(sample('resolve-image')).input.source).toBe('ci');
    expect(parseConnectivityEvent(sample('connectivity-check')).executionName).toBe(
      'release-v42-4b8e4c0d5a1f',
    );
    expect(parseMigrateEvent(sample('migrate-up')).action).toBe('up');
    expect(parseMigrateEvent(sample('migrate-rollback')).action).toBe('rollback');
    expect(parseMigrateEvent(sample('migrate-end'))).toMatchObject({ action: 'end', outcome: 'released' });
    expect(parseDeployEvent(sample('deploy-preflight')).action).toBe('preflight');
    expect(parseDeployEvent(sample('deploy-restore')).action).toBe('restore');
    expect(parseDeployEvent(sample('deploy-start')).action).toBe('start');
    expect(parseDeployEvent(sample('deploy-status'))).toMatchObject({
      action: 'status',
      operationId: '8fe1e10304f84fd2b0df550fe98a71fa',
    });
  });
});

describe('event validation', () => {
  const refusals: [string, () => unknown, string][] = [
    ['a non-object', () => parseMigrateEvent('up'), 'event'],
    [
      'an unknown field',
      () => parseMigrateEvent({ ...sample('migrate-up'), sql: 'drop table users' }),
      'event.sql',
    ],
    [
      'an unknown action',
      () => parseMigrateEvent({ ...sample('migrate-up'), action: 'down-all' }),
      'event.action',
    ],
    ['a missing run id', () => parseMigrateEvent({ action: 'rollback' }), 'event.runId'],
    [
      'a bundle key that is not a content address',
      () =>
        parseMigrateEvent({
          ...sample('migrate-up'),
          bundle: { ...sample('migrate-up').bundle, key: '../../etc/passwd' },
        }),
      'event.bundle.key',
    ],
    [
      'a missing bundle',
      () => parseMigrateEvent({ ...sample('migrate-up'), bundle: undefined }),
      'event.bundle',
    ],
    ['a huge string', () => parseMigrateEvent({ action: 'up', runId: 'x'.repeat(10_000) }), 'event.runId'],
    [
      'a wrong type',
      () => parsePipelineInput({ ...sample('pipeline-input'), dryRun: 'true' }),
      'input.dryRun',
    ],
    [
      'a bad digest',
      () => parsePipelineInput({ image: { uri: 'a.b/c:d', digest: 'md5:1' }, source: 'ci' }),
      'input.image.digest',
    ],
    [
      'an image in the status action',
      () => parseDeployEvent({ ...sample('deploy-status'), image: {} }),
      'event.image',
    ],
    [
      'a bad execution name',
      () => parseConnectivityEvent({ ...sample('connectivity-check'), executionName: 'a b' }),
      'event.executionName',
    ],
  ];
  for (const [what, parse, field] of refusals) {
    it(`refuses ${what} with InvalidInput naming ${field}`, () => {
      expect(parse).toThrowError(
        expect.objectContaining({ name: ErrorName.InvalidInput, context: { field } }),
      );
    });
  }
});
