import {
  AwsAccessDenied,
  AwsCredentialsMissing,
  AwsCredentialsRejected,
  AwsRegionMissing,
  AwsUnreachable,
} from './errors.ts';

/** Codes of a request that never got an answer (Node's socket and DNS errors). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** AWS's names for credentials it does not accept (STS, and the JSON and query protocols' spellings). */
const REJECTED_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
]);

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException']);

/**
 * The AWS SDK's errors say what broke, not what to do: each one a person can fix is rethrown as a
 * named error that says how. Others pass through unchanged.
 */
export function withAwsErrorsExplained<A extends unknown[]>(
  command: (...args: A) => Promise<number>,
): (...args: A) => Promise<number> {
  return async (...args) => {
    try {
      return await command(...args);
    } catch (error) {
      throw explainAwsError(error) ?? error;
    }
  };
}

function explainAwsError(error: unknown): Error | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, address, port, hostname } = error as Error & {
    code?: string;
    address?: string;
    port?: number;
    hostname?: string;
  };
  if (error.name === 'CredentialsProviderError') {
    return new AwsCredentialsMissing(
      'No AWS credentials were found. Provide them as for the AWS CLI: sign in with "aws sso login" (or "aws configure") ' +
        'and set AWS_PROFILE to that profile, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN ' +
        'for temporary ones); in CI, let the job assume a role (for GitHub Actions, aws-actions/configure-aws-credentials).',
      { cause: error },
    );
  }
  if (/^Region is missing/.test(error.message)) {
    return new AwsRegionMissing(
      'No AWS region is set, and nothing names one (a state machine ARN would): add --region us-east-2 (the region of the stack), or set AWS_REGION.',
      { cause: error },
    );
  }
  if ((code && UNREACHABLE_CODES.has(code)) || error.name === 'TimeoutError') {
    const where = address ? `${address}${port ? `:${port}` : ''}` : (hostname ?? 'its endpoint');
    return new AwsUnreachable(
      `AWS could not be reached at ${where} (${code ?? error.name}): check the network connection, a proxy ` +
        '(HTTPS_PROXY) or VPN in the way, and the region; an AWS_ENDPOINT_URL* variable may point elsewhere.',
      { cause: error },
    );
  }
  if (REJECTED_CREDENTIALS.has(error.name)) {
    return new AwsCredentialsRejected(
      `AWS rejected the credentials (${error.name}): they are expired or wrong. Refresh them ("aws sso login", ` +
        'or new keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and run again.',
      { cause: error },
    );
  }
  if (ACCESS_DENIED.has(error.name)) {
    return new AwsAccessDenied(
      `${error.message.replace(/\.?$/, '.')} Grant that action on that resource to the role or user named, ` +
        'or run as one that has it.',
      { cause: error },
    );
  }
  return undefined;
}
