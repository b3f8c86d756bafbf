import type { DescribeServiceCommandOutput, OperationSummary } from '@aws-sdk/client-apprunner';

/** Responses shaped like the real APIs' (App Runner and Secrets Manager API references), for aws-sdk-client-mock. */

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-2';
export const REPOSITORY = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/better-call-buffet`;
export const SERVICE_ARN = `arn:aws:apprunner:${REGION}:${ACCOUNT}:service/better-call-buffet/8fe1e10304f84fd2b0df550fe98a71fa`;
export const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:better-call-buffet/db-AbCdEf`;
export const DIGEST = `sha256:${'ab12'.repeat(16)}`;
export const OLD_IMAGE = `${REPOSITORY}:v41`;

/** GetSecretValue for an RDS-style JSON secret holding the parts of `url`. */
export function rdsSecretFor(url: string) {
  const parsed = new URL(url);
  return {
    ARN: SECRET_ARN,
    Name: 'better-call-buffet/db',
    VersionId: 'a5b9a7d1-0c1e-4d55-9d0a-0f4e8c1a2b3c',
    SecretString: JSON.stringify({
      engine: 'postgres',
      host: parsed.hostname,
      port: Number(parsed.port),
      username: decodeURIComponent(parsed.username),
      password: decodeURIComponent(parsed.password),
      dbname: parsed.pathname.slice(1),
      dbInstanceIdentifier: 'better-call-buffet-db',
    }),
    VersionStages: ['AWSCURRENT'],
    CreatedDate: new Date('2026-01-15T10:00:00Z'),
    $metadata: { httpStatusCode: 200 },
  };
}

/** DescribeService for an image-based service currently running `image`. */
export function describeService(
  image = OLD_IMAGE,
  status: 'RUNNING' | 'OPERATION_IN_PROGRESS' = 'RUNNING',
): DescribeServiceCommandOutput {
  return {
    Service: {
      ServiceName: 'better-call-buffet',
      ServiceId: '8fe1e10304f84fd2b0df550fe98a71fa',
      ServiceArn: SERVICE_ARN,
      ServiceUrl: 'xyzabc1234.us-east-2.awsapprunner.com',
      CreatedAt: new Date('2025-03-01T12:00:00Z'),
      UpdatedAt: new Date('2026-11-01T08:30:00Z'),
      Status: status,
      SourceConfiguration: {
        ImageRepository: {
          ImageIdentifier: image,
          ImageConfiguration: { Port: '8000', RuntimeEnvironmentVariables: { ENVIRONMENT: 'production' } },
          ImageRepositoryType: 'ECR',
        },
        AutoDeploymentsEnabled: true,
        AuthenticationConfiguration: {
          AccessRoleArn: `arn:aws:iam::${ACCOUNT}:role/service-role/AppRunnerECRAccessRole`,
        },
      },
      InstanceConfiguration: {
        Cpu: '1024',
        Memory: '2048',
        InstanceRoleArn: `arn:aws:iam::${ACCOUNT}:role/better-call-buffet-instance`,
      },
      HealthCheckConfiguration: {
        Protocol: 'HTTP',
        Path: '/health',
        Interval: 10,
        Timeout: 5,
        HealthyThreshold: 1,
        UnhealthyThreshold: 5,
      },
      AutoScalingConfigurationSummary: {
        AutoScalingConfigurationArn: `arn:aws:apprunner:${REGION}:${ACCOUNT}:autoscalingconfiguration/DefaultConfiguration/1/00000000000000000000000000000001`,
        AutoScalingConfigurationName: 'DefaultConfiguration',
        AutoScalingConfigurationRevision: 1,
      },
      NetworkConfiguration: {
        EgressConfiguration: { EgressType: 'DEFAULT' },
        IngressConfiguration: { IsPubliclyAccessible: true },
      },
    },
    $metadata: { httpStatusCode: 200 },
  };
}

export function operation(id: string, status: NonNullable<OperationSummary['Status']>): OperationSummary {
  const ended = !['PENDING', 'IN_PROGRESS', 'ROLLBACK_IN_PROGRESS'].includes(status);
  return {
    Id: id,
    Type: 'UPDATE_SERVICE',
    Status: status,
    TargetArn: SERVICE_ARN,
    StartedAt: new Date('2026-11-24T10:00:00Z'),
    ...(ended ? { EndedAt: new Date('2026-11-24T10:04:12Z') } : {}),
    UpdatedAt: new Date('2026-11-24T10:04:12Z'),
  };
}

/** Credentials of AWS's documentation examples, for SDK clients pointed at a loopback fake. */
export const FAKE_CREDENTIALS_ENV = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
