/**
 * Named errors only the CLI raises (the Lambdas' names are in functions/lib/errors.ts). `name` is
 * what the person sees first and what `--json` reports, so it is fixed per class.
 */

/** A person asked at the terminal whether to go on said no: nothing was changed. */
export class NotConfirmed extends Error {
  override readonly name = 'NotConfirmed';
}

/** `migrate redo` on a database that is not on this machine: it rewrites history, so development only. */
export class RedoRefused extends Error {
  override readonly name = 'RedoRefused';
}

/** No AWS credentials in the environment, the shared files, SSO or the instance's role. */
export class AwsCredentialsMissing extends Error {
  override readonly name = 'AwsCredentialsMissing';
}

/** AWS refused the credentials: expired (an SSO session, temporary keys) or wrong. */
export class AwsCredentialsRejected extends Error {
  override readonly name = 'AwsCredentialsRejected';
}

/** The credentials are good, but their role or user may not call the operation. */
export class AwsAccessDenied extends Error {
  override readonly name = 'AwsAccessDenied';
}

/** Nothing says which region to call (needed where no ARN names it, as for `--stack`). */
export class AwsRegionMissing extends Error {
  override readonly name = 'AwsRegionMissing';
}

/** The AWS endpoint did not answer: no network, a proxy or VPN in the way, or a wrong endpoint. */
export class AwsUnreachable extends Error {
  override readonly name = 'AwsUnreachable';
}
