import { ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ecrCredentials } from '../../../../functions/lib/registry/ecrCredentials.ts';
import { FAKE_CREDENTIALS_ENV, REGION } from '../../../support/aws.ts';
import { ENABLE_MOTO_TESTS, type MotoServer, motoAvailable, startMotoServer } from '../../../support/moto.ts';
import { freePort } from '../../../support/registry.ts';

const available = motoAvailable();
const title = `ecrCredentials against moto's ECR${available ? '' : ` (SKIPPED: run ${ENABLE_MOTO_TESTS})`}`;
const ECR_REGISTRY = `123456789012.dkr.ecr.${REGION}.amazonaws.com`;

function clientFor(endpoint: string): ECRClient {
  return new ECRClient({
    endpoint,
    region: REGION,
    maxAttempts: 1,
    credentials: {
      accessKeyId: FAKE_CREDENTIALS_ENV.AWS_ACCESS_KEY_ID,
      secretAccessKey: FAKE_CREDENTIALS_ENV.AWS_SECRET_ACCESS_KEY,
    },
  });
}

describe.skipIf(!available)(title, () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMotoServer();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  // moto's tokens always expire at 2015-01-01T00:00:00Z: the clock is set around that.
  const MOTO_EXPIRY = Date.UTC(2015, 0, 1);

  it('decodes the token to user AWS and its password, and reuses it until shortly before it expires', async () => {
    const client = clientFor(moto.endpoint);
    const send = vi.spyOn(client, 'send');
    let now = MOTO_EXPIRY - 12 * 60 * 60 * 1000;
    const credentials = ecrCredentials(client, () => now);
    const first = await credentials?.(ECR_REGISTRY);
    expect(first).toEqual({ username: 'AWS', password: '123456789012-auth-token' });
    now = MOTO_EXPIRY - 20 * 60 * 1000;
    expect(await credentials?.(ECR_REGISTRY)).toEqual(first);
    expect(send).toHaveBeenCalledTimes(1);
    now = MOTO_EXPIRY - 5 * 60 * 1000;
    await credentials?.(ECR_REGISTRY);
    expect(send).toHaveBeenCalledTimes(2);
  });

  it('never reuses an expired token', async () => {
    const client = clientFor(moto.endpoint);
    const send = vi.spyOn(client, 'send');
    const credentials = ecrCredentials(client, () => MOTO_EXPIRY + 1);
    await credentials?.(ECR_REGISTRY);
    await credentials?.(ECR_REGISTRY);
    expect(send).toHaveBeenCalledTimes(2);
  });

  it('gives no credentials to a registry that is not ECR', async () => {
    const client = clientFor(moto.endpoint);
    const send = vi.spyOn(client, 'send');
    const credentials = ecrCredentials(client);
    expect(await credentials?.('registry.example.com')).toBeUndefined();
    expect(await credentials?.(`${ECR_REGISTRY}.evil.example`)).toBeUndefined();
    expect(send).not.toHaveBeenCalled();
  });

  it('names an unreachable ECR API RegistryUnreachable', async () => {
    const credentials = ecrCredentials(clientFor(`http://127.0.0.1:${await freePort()}`));
    await expect(credentials?.(ECR_REGISTRY)).rejects.toMatchObject({ name: 'RegistryUnreachable' });
  });
});
