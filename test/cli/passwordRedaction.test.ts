import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, describeTarget } from '../../functions/lib/db/connection.ts';
import { ErrorName } from '../../functions/lib/errors.ts';
import { runCliProcess } from '../support/cli.ts';
import { adminUrl } from '../support/database.ts';
import { migrationsDir } from '../support/migrationsDir.ts';
import { directDatabase, loadPipeline } from '../support/pipeline.ts';

/** Holds every character that ends a part of a URL; starts with digits, which a URL parser takes for a port. */
const PASSWORD = '2024/Summer!Secret@Zebra:Quokka#Wombat?Narwhal';
/** A parser that misreads the password shows a piece of it: no output may hold any, raw or percent-encoded. */
const PIECES = PASSWORD.split(/[/@:#?]/).filter((piece) => /[a-z]/i.test(piece));
// Asserted as a boolean, so that a failing test does not print the password either.
const holdsPassword = (text: string) => PIECES.some((piece) => text.includes(piece));
const RUN_ID = 'arn:aws:states:us-east-2:123456789012:execution:MigrationPipeline-3XyZ:release-v42';

/** The server at `location` (host:port) as user `app`, the password as typed and percent-encoded. */
const urlsTo = (location: string) => ({
  typed: `postgres://app:${PASSWORD}@${location}/postgres`,
  encoded: `postgres://app:${encodeURIComponent(PASSWORD)}@${location}/postgres`,
});

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('a password holding / @ : # ? appears in no output or log', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await migrationsDir({});
    await mkdir(join(cwd, 'migrations'));
  });
  afterAll(async () => {
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  /** `migrate status` and `migrate status --json` as a person runs them: both outputs of both. */
  const outputsOf = async (databaseUrl: string) => {
    const runs = await Promise.all(
      [
        ['migrate', 'status'],
        ['migrate', 'status', '--json'],
      ].map((args) => runCliProcess(args, { variables: { DATABASE_URL: databaseUrl }, cwd })),
    );
    return {
      codes: runs.map((run) => run.code),
      text: runs.map((run) => run.stdout + run.stderr).join('\n'),
    };
  };

  it('the CLI against a closed port: the typed URL is refused, the encoded one unreachable', async () => {
    const urls = urlsTo(`127.0.0.1:${await closedPort()}`);

    const typed = await outputsOf(urls.typed);
    const encoded = await outputsOf(urls.encoded);

    expect(holdsPassword(typed.text)).toBe(false);
    expect(typed.codes).toEqual([1, 1]);
    expect(typed.text).toContain('InvalidInput: The database URL (postgres://app@127.0.0.1:');
    expect(typed.text).toContain('must be percent-encoded');
    expect(holdsPassword(encoded.text)).toBe(false);
    expect(encoded.text).toContain('DatabaseUnreachable: Cannot reach postgres://app@127.0.0.1:');
  });

  it('the CLI against the real server with a wrong password', async () => {
    const urls = urlsTo(new URL(adminUrl()).host);

    const typed = await outputsOf(urls.typed);
    const encoded = await outputsOf(urls.encoded);

    expect(holdsPassword(typed.text)).toBe(false);
    expect(typed.codes).toEqual([1, 1]);
    expect(holdsPassword(encoded.text)).toBe(false);
    expect(encoded.codes).toEqual([1, 1]);
    expect(encoded.text).toContain('AuthenticationFailed: postgres://app@');
  });

  it('messages describe a URL by its structure, whatever a URL parser makes of it', async () => {
    const url = `postgres://app:${PASSWORD}@db.internal:6543/shop?password=${PIECES[1]}`;
    const others = [
      `postgresql://app:${PASSWORD}@[::1]/shop`,
      `postgres://db.internal/shop?password=${PASSWORD}`,
      `postgres://app:${PASSWORD}`,
      `mysql://app:${PASSWORD}@db.internal/shop`,
    ];

    for (const text of [url, ...others]) expect(holdsPassword(describeTarget(text))).toBe(false);
    expect(describeTarget(url)).toBe('postgres://app@db.internal:6543/shop');
    expect(describeTarget(others[0] ?? '')).toBe('postgres://app@[::1]:5432/shop');
    const error = await connect(url).then(
      () => undefined,
      (failure: Error) => failure,
    );
    expect(error?.name).toBe(ErrorName.InvalidInput);
    expect(holdsPassword(`${error?.message}`)).toBe(false);
  });

  it("the migrate function's error and its log", async () => {
    let logged = '';
    const capture = (chunk: unknown) => {
      logged += String(chunk);
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const pipeline = await loadPipeline({
      ...directDatabase(urlsTo(`127.0.0.1:${await closedPort()}`).typed),
      MIGRATIONS_DIR: await migrationsDir({ '001-a.sql': '-- migrate:up\nselect 1;\n' }),
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    });
    const context = { awsRequestId: 'r-1', functionName: 'migrate', getRemainingTimeInMillis: () => 30_000 };

    const error: (Error & { context?: unknown }) | undefined = await pipeline.handlers
      .migrate({ action: 'up', runId: RUN_ID, bundle: pipeline.bundle }, context as never)
      .then(
        () => undefined,
        (failure: Error) => failure,
      );
    vi.restoreAllMocks();

    expect(logged).toContain('migrate failed: ');
    expect(holdsPassword(logged)).toBe(false);
    expect(error?.name).toBe(ErrorName.InvalidInput);
    expect(error?.context).toEqual({ field: 'DATABASE_URL' });
    expect(holdsPassword(JSON.stringify(error))).toBe(false);
    expect(holdsPassword(`${error?.message}`)).toBe(false);
  });
});
