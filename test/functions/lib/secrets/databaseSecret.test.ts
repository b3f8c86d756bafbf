import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { cachedSecretReader, parseDatabaseSecret } from '../../../../functions/lib/secrets/databaseSecret.ts';
import { SECRET_ARN } from '../../../support/aws.ts';

const tls = { mode: 'require' as const };
const parse = (secret: string, defaults = {}) =>
  parseDatabaseSecret(secret, { secretArn: SECRET_ARN, defaults, tls });
const failureOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error as Error & { context: Record<string, unknown> };
  }
  throw new Error('expected a failure');
};

describe('reading the database secret', () => {
  it('accepts the RDS JSON shape, with the port as a number or a string', () => {
    const secret = {
      username: 'app',
      password: 'p@ss:w/rd',
      host: 'db.internal',
      port: '6543',
      dbname: 'buffet',
      engine: 'postgres',
    };

    expect(parse(JSON.stringify(secret))).toEqual({
      host: 'db.internal',
      port: 6543,
      database: 'buffet',
      username: 'app',
      password: 'p@ss:w/rd',
      tls,
    });
    expect(parse(JSON.stringify({ ...secret, port: 5432 })).port).toBe(5432);
  });

  it('takes host, port and database from the parameters for an RDS-managed master secret', () => {
    const endpoint = parse(JSON.stringify({ username: 'postgres', password: 'x' }), {
      host: 'buffet.cluster-abc.us-east-2.rds.amazonaws.com',
      port: 5432,
      database: 'buffet',
    });

    expect(endpoint).toMatchObject({
      host: 'buffet.cluster-abc.us-east-2.rds.amazonaws.com',
      port: 5432,
      database: 'buffet',
    });
  });

  it('accepts a DATABASE_URL as JSON or as plain text, honouring its sslmode', () => {
    const url = 'postgresql://app:s%40cret@db.internal:5432/buffet?sslmode=verify-full';

    expect(parse(JSON.stringify({ DATABASE_URL: url }))).toMatchObject({
      password: 's@cret',
      tls: { mode: 'verify-full' },
    });
    expect(parse(url)).toMatchObject({
      host: 'db.internal',
      database: 'buffet',
      username: 'app',
      password: 's@cret',
    });
  });

  it('never lets the secret weaken the TLS the stack requires', () => {
    expect(parse('postgres://app:pw@db.internal/buffet?sslmode=disable').tls.mode).toBe('require');
    expect(parse('postgres://app:pw@db.internal/buffet?sslmode=verify-full').tls.mode).toBe('verify-full');
  });

  it('fails SecretInvalid, naming what is missing and never echoing the secret', () => {
    const cases = [
      ['{"username":"app","password":"hunter2-secret","port":"x","host":"h"}', 'bad-port'],
      ['{"username":"app","password":"hunter2-secret"}', 'missing-host'],
      ['{"user":"app","pass":"hunter2-secret"}', 'missing-fields'],
      ['hunter2-secret is not json', 'unparseable'],
      ['["hunter2-secret"]', 'not-an-object'],
      ['postgres://app:hunter2-secret%zz@db.internal/buffet', 'bad-url'],
    ] as const;
    for (const [secret, problem] of cases) {
      const error = failureOf(() => parse(secret));
      expect(error.name).toBe(ErrorName.SecretInvalid);
      expect(error.context.problem).toBe(problem);
      expect(error.message).not.toContain('hunter2');
    }
    expect(failureOf(() => parse('{"username":"app"}')).message).toContain('lacks password');
  });
});

describe('fetching secrets from Secrets Manager', () => {
  const secretsManager = mockClient(SecretsManagerClient);
  beforeEach(() => secretsManager.reset());

  const client = new SecretsManagerClient({ region: 'us-east-2' });
  const response = {
    ARN: SECRET_ARN,
    Name: 'db',
    SecretString: '{"username":"a","password":"b"}',
    VersionStages: ['AWSCURRENT'],
  };

  it('caches a secret across invocations until its TTL passes', async () => {
    secretsManager.on(GetSecretValueCommand).resolves(response);
    let now = 0;
    const read = cachedSecretReader(client, {
      ttlMs: 1000,
      clock: { now: () => now, sleep: async () => {} },
    });

    await read(SECRET_ARN);
    now = 999;
    await read(SECRET_ARN);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    now = 1001;
    await read(SECRET_ARN);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('reads the secret again, past the cache, when asked for a fresh copy (a rotated password)', async () => {
    secretsManager.on(GetSecretValueCommand).resolves(response);
    const read = cachedSecretReader(client, {
      ttlMs: 60_000,
      clock: { now: () => 0, sleep: async () => {} },
    });

    await read(SECRET_ARN);
    await read(SECRET_ARN, { fresh: true });
    await read(SECRET_ARN);

    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('fails SecretsUnreachable when there is no route from the VPC, saying to add the endpoint or a NAT', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' }));
    const read = cachedSecretReader(client, { ttlMs: 1000, clock: { now: () => 0, sleep: async () => {} } });

    const error = await read(SECRET_ARN).catch((e) => e);

    expect(error.name).toBe(ErrorName.SecretsUnreachable);
    expect(error.message).toContain(
      'No route to Secrets Manager from the VPC: add the Secrets Manager interface endpoint',
    );
  });

  it('fails SecretInvalid when the role may not read the secret', async () => {
    secretsManager.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: secretsmanager:GetSecretValue'), {
        name: 'AccessDeniedException',
      }),
    );
    const read = cachedSecretReader(client, { ttlMs: 1000, clock: { now: () => 0, sleep: async () => {} } });

    const error = await read(SECRET_ARN).catch((e) => e);

    expect(error.name).toBe(ErrorName.SecretInvalid);
    expect(error.message).toContain("the function's role may not read it");
  });
});
