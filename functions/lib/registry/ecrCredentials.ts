import { type ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { ImageNotFound, RegistryUnreachable } from '../errors.ts';
import type { RegistryAccess, RegistryCredentials } from './readImageMigrations.ts';

/** ECR's registry hosts (FIPS and China partitions included): the token goes to no other host. */
const ECR_HOST = /^\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;
/** Tokens last 12 hours; renewing this long before expiry leaves room for a long read. */
const RENEW_BEFORE_MS = 15 * 60 * 1000;

/**
 * Registry credentials from ECR's GetAuthorizationToken: user `AWS` and the token's password, sent
 * as Basic to ECR's registry endpoint. One token serves every repository the role may read, so it
 * is cached until shortly before it expires. Other registries get no credentials.
 */
export function ecrCredentials(
  client: ECRClient,
  now: () => number = Date.now,
): RegistryAccess['credentials'] {
  let cached: { credentials: RegistryCredentials; renewAt: number } | undefined;
  return async (registry) => {
    if (!ECR_HOST.test(registry.replace(/:443$/, ''))) return undefined;
    if (cached && now() < cached.renewAt) return cached.credentials;
    const data = await getAuthorizationToken(client, registry);
    const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new RegistryUnreachable(
        'ECR returned no usable authorization token. The release retries; if it persists, check the ECR service health.',
        { registry },
      );
    }
    const credentials = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    const expiresAt = data?.expiresAt?.getTime() ?? now();
    cached = { credentials, renewAt: expiresAt - RENEW_BEFORE_MS };
    return credentials;
  };
}

async function getAuthorizationToken(client: ECRClient, registry: string) {
  try {
    return (await client.send(new GetAuthorizationTokenCommand({}))).authorizationData?.[0];
  } catch (error) {
    const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (name === 'AccessDeniedException' || $metadata?.httpStatusCode === 403) {
      throw new ImageNotFound(
        `The function's role may not call ecr:GetAuthorizationToken, so no image of ${registry} can be read. Grant it that action.`,
        { image: registry, status: 403 },
        { cause: error },
      );
    }
    throw new RegistryUnreachable(
      `Could not get an authorization token from ECR for ${registry} (${name ?? 'error'}). The release retries; check the route to the ECR API (NAT gateway or VPC endpoint).`,
      { registry, ...(name ? { code: name } : {}) },
      { cause: error },
    );
  }
}
