import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect, describeTarget } from '../../../../functions/lib/db/connection.ts';
import { ErrorName } from '../../../../functions/lib/errors.ts';
import { adminUrl, withDatabase } from '../../../support/database.ts';

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error) => error,
  );

describe('connecting to the database', () => {
  it('classifies a wrong password as AuthenticationFailed without echoing it', async () => {
    const secret = 'wrong-pass-Zq8!x';
    const error = await failureOf(connect(withPassword(adminUrl(), secret)));

    expect(error?.name).toBe(ErrorName.AuthenticationFailed);
    expect(error?.message).toContain('Check the user name and password');
    expect(
      JSON.stringify({ message: error?.message, context: (error as { context?: unknown }).context }),
    ).not.toContain(secret);
  });

  it('classifies an unknown database as DatabaseNotFound', async () => {
    const error = await failureOf(connect(withDatabase(adminUrl(), 'no_such_database')));

    expect(error?.name).toBe(ErrorName.DatabaseNotFound);
    expect(error?.message).toContain('/no_such_database');
  });

  it('classifies a closed port as DatabaseUnreachable, naming what to check', async () => {
    const url = new URL(adminUrl());
    url.hostname = '127.0.0.1';
    url.port = String(await closedPort());

    const error = await failureOf(connect(url.toString(), { connectTimeoutSeconds: 3 }));

    expect(error?.name).toBe(ErrorName.DatabaseUnreachable);
    expect(error?.message).toContain('security group');
    expect(error?.message).not.toContain(new URL(adminUrl()).password);
  });

  it('classifies an unknown host as DatabaseUnreachable', async () => {
    const url = new URL(adminUrl());
    url.hostname = 'db.example.invalid';

    const error = await failureOf(connect(url.toString(), { connectTimeoutSeconds: 3 }));

    expect(error?.name).toBe(ErrorName.DatabaseUnreachable);
    expect(error?.message).toContain('db.example.invalid');
  });

  it('refuses a malformed URL without echoing it', async () => {
    const error = await failureOf(connect('postgres://user:s3cr3t-pw@[bad-host/db'));

    expect(error?.name).toBe(ErrorName.InvalidInput);
    expect(error?.message).not.toContain('s3cr3t-pw');
  });

  it('describes a target without its password', () => {
    expect(describeTarget('postgres://app:hunter2@db.internal:6543/shop')).toBe(
      'postgres://app@db.internal:6543/shop',
    );
  });
});
