import { AppRunnerClient } from '@aws-sdk/client-apprunner';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DIGEST, REPOSITORY, rdsSecretFor } from '../support/aws.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { migrationsDir, sqlModule } from '../support/migrationsDir.ts';
import { type LoadedPipeline, loadPipeline } from '../support/pipeline.ts';

const secrets = mockClient(SecretsManagerClient);
const appRunner = mockClient(AppRunnerClient);
const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 60_000 };

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const HUGE = 'x'.repeat(1_000_000);
const WRONG_VALUES: unknown[] = [
  null,
  42,
  -1,
  true,
  [],
  ['up'],
  {},
  '',
  ' ',
  HUGE,
  { $ne: null },
  'up\u0000',
  '../../etc/passwd',
];
const FOREIGN_IMAGES = [
  'docker.io/library/nginx:latest',
  '999999999999.dkr.ecr.us-east-2.amazonaws.com/better-call-buffet:v1',
  `${REPOSITORY}-evil:v1`,
  `${REPOSITORY}/../other:v1`,
  `evil.example.com/${REPOSITORY}:v1`,
  `${REPOSITORY}`,
];

/** 50 events shaped like the real one but wrong somewhere: types, missing fields, huge strings, foreign images. */
function malformed(
  valid: Record<string, unknown>,
  fields: string[],
  required: string[],
  seed: number,
): unknown[] {
  const next = random(seed);
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)] as T;
  const events: unknown[] = [
    null,
    'event',
    7,
    [],
    [valid],
    { ...valid, extra: 1 },
    JSON.parse(JSON.stringify(valid).replace(/^\{/, '{"__proto__":{"polluted":true},')),
  ];
  for (const field of required)
    events.push(Object.fromEntries(Object.entries(valid).filter(([key]) => key !== field)));
  while (events.length < 50) {
    const event = structuredClone(valid) as Record<string, unknown>;
    const field = pick(fields);
    if (field === 'image' || field === 'input') {
      const image = {
        uri: pick([...FOREIGN_IMAGES, pick(WRONG_VALUES)]),
        ...(next() < 0.3 ? { digest: pick(['sha256:abc', HUGE, 5]) } : {}),
      };
      if (field === 'image') event.image = next() < 0.2 ? pick(WRONG_VALUES) : image;
      else event.input = next() < 0.2 ? pick(WRONG_VALUES) : { image, source: pick(['ci', 5, HUGE]) };
    } else {
      event[field] = pick(WRONG_VALUES);
    }
    events.push(event);
  }
  return events;
}

describe('50 malformed events per handler', () => {
  let db: TestDatabase;
  let pipeline: LoadedPipeline;
  beforeAll(async () => {
    db = await createTestDatabase();
    secrets.on(GetSecretValueCommand).resolves(rdsSecretFor(db.url));
    const dir = await migrationsDir({ '001-a.mjs': sqlModule('create table a (id int)', 'drop table a') });
    pipeline = await loadPipeline({ MIGRATIONS_DIR: dir });
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await db.drop();
  });

  // [function, handler, a valid event, the fields to corrupt, the required ones]
  const cases: [
    string,
    keyof Omit<LoadedPipeline['handlers'], 'notify'>,
    Record<string, unknown>,
    string[],
    string[],
  ][] = [
    [
      'resolve-image',
      'resolveImage',
      { executionName: 'release-v1', input: { image: { uri: `${REPOSITORY}@${DIGEST}` }, source: 'ci' } },
      ['executionName', 'input'],
      ['input'],
    ],
    [
      'connectivity-check',
      'connectivityCheck',
      {
        executionName: 'release-v1',
        input: { image: { uri: `${REPOSITORY}@${DIGEST}` }, source: 'ci' },
        release: {
          image: { uri: `${REPOSITORY}@${DIGEST}`, digest: DIGEST },
          bundle: { sha256: 'a'.repeat(64), key: `bundles/${'a'.repeat(64)}.tar`, migrations: 1 },
          migrationsPath: '/app/migrations',
        },
      },
      ['executionName', 'input', 'release'],
      ['input', 'release'],
    ],
    [
      'migrate',
      'migrate',
      {
        action: 'up',
        runId: 'arn:aws:states:us-east-2:123456789012:execution:p:e',
        bundle: { sha256: 'a'.repeat(64), key: `bundles/${'a'.repeat(64)}.tar`, migrations: 1 },
        executionName: 'e',
      },
      ['action', 'runId', 'bundle', 'executionName'],
      ['action', 'runId', 'bundle'],
    ],
    [
      'deploy',
      'deploy',
      { action: 'start', image: { uri: `${REPOSITORY}@${DIGEST}` }, executionName: 'e' },
      ['action', 'image', 'executionName'],
      ['action', 'image'],
    ],
  ];

  for (const [name, handler, valid, fields, required] of cases) {
    it(`${name}: every one fails InvalidInput, writes nothing and reads no secret`, async () => {
      const events = malformed(valid, fields, required, name.length);
      expect(events).toHaveLength(50);
      for (const event of events) {
        const error = await pipeline.handlers[handler](event, context as never).then(
          () => undefined,
          (e: Error) => e,
        );
        expect(error?.name, JSON.stringify(event)?.slice(0, 300)).toBe('InvalidInput');
        expect(appRunner.calls(), JSON.stringify(event)?.slice(0, 300)).toHaveLength(0);
        expect(error?.message.length).toBeLessThan(600);
      }
      expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
      expect(appRunner.calls()).toHaveLength(0);
      expect(await db.sql`select to_regclass('migration_pipeline_history') as t`).toEqual([{ t: null }]);
    });
  }
});
