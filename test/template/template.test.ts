import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SUBSTITUTIONS } from '../../cli/local/stateMachine.ts';
import { parsePipelineInput } from '../../functions/lib/contract/events.ts';
import { resolveImage } from '../../functions/lib/deploy/image.ts';
import { intrinsics, loadTemplate } from '../support/cloudformation.ts';

const template = loadTemplate();
const resources = template.Resources;
const PSEUDO = [
  'AWS::AccountId',
  'AWS::Region',
  'AWS::StackName',
  'AWS::Partition',
  'AWS::URLSuffix',
  'AWS::NoValue',
  'AWS::StackId',
];
const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Serverless::Function');

/** The !Sub string of the one ECS service the deploy function may update (CloudFormation placeholders, escaped). */
const ECS_SERVICE_ARN_SUB = `arn:\${AWS::Partition}:ecs:\${AWS::Region}:\${AWS::AccountId}:service/\${EcsCluster}/\${EcsService}`;

type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
};
type Conditional = { 'Fn::If': [string, Statement, unknown] };

/** A function's policy statements; a conditional one (`!If [Cond, statement, !Ref AWS::NoValue]`) with its condition. */
function statementsOf(properties: Record<string, unknown>): (Statement & { when?: string })[] {
  const policies = (properties.Policies ?? []) as { Statement?: (Statement | Conditional)[] }[];
  return policies.flatMap((policy) =>
    (policy.Statement ?? []).map((statement) =>
      'Fn::If' in statement ? { ...statement['Fn::If'][1], when: statement['Fn::If'][0] } : statement,
    ),
  );
}

describe('template.yaml', () => {
  it('resolves every !Ref, !GetAtt, !Sub variable and condition', () => {
    const names = new Set([...Object.keys(template.Parameters), ...Object.keys(resources), ...PSEUDO]);
    const conditions = new Set(Object.keys(template.Conditions));
    for (const [kind, value] of intrinsics(template)) {
      if (kind === 'Ref') expect(names, `!Ref ${value}`).toContain(value);
      if (kind === 'Fn::GetAtt') expect(Object.keys(resources)).toContain((value as string[])[0]);
      if (kind === 'Fn::If' || kind === 'Condition')
        expect(conditions).toContain(Array.isArray(value) ? value[0] : value);
      if (kind === 'Fn::Sub') {
        const [text, locals] = Array.isArray(value) ? value : [value, {}];
        for (const [, variable] of (text as string).matchAll(/\$\{([^}!]+)\}/g)) {
          const known =
            names.has(variable as string) ||
            (variable as string) in (locals as object) ||
            Object.keys(resources).includes((variable as string).split('.')[0] as string);
          expect(known, `\${${variable}} in !Sub`).toBe(true);
        }
      }
    }
    for (const resource of Object.values(resources))
      if (resource.Condition) expect(conditions).toContain(resource.Condition);
  });

  it('runs each function on nodejs24.x/arm64 from a bundle whose handler source exists', () => {
    expect(template.Globals.Function).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Tracing: 'Active',
    });
    expect(functions.map(([, f]) => f.Properties.CodeUri).sort()).toEqual([
      'dist/connectivity-check',
      'dist/deploy',
      'dist/migrate',
      'dist/resolve-image',
    ]);
    for (const [, f] of functions) {
      const name = (f.Properties.CodeUri as string).replace('dist/', '');
      expect(existsSync(`functions/${name}/index.ts`), name).toBe(true);
      expect(readFileSync(`functions/${name}/index.ts`, 'utf8')).toContain('export const handler');
    }
  });

  it("refuses to create a stack without its deploy target's service", () => {
    expect(template.Rules.AppRunnerTargetNeedsItsService?.Assertions.map((a) => a.Assert)).toEqual([
      { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AppRunnerServiceArn' }, ''] }] },
      { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AppRunnerAccessRoleArn' }, ''] }] },
    ]);
    expect(template.Rules.EcsTargetNeedsItsService?.Assertions.map((a) => a.Assert)).toEqual([
      { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'EcsCluster' }, ''] }] },
      { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'EcsService' }, ''] }] },
    ]);
  });

  it('puts the database functions in the VPC and the deploy function outside it', () => {
    expect(resources.ConnectivityCheckFunction?.Properties.VpcConfig).toBeDefined();
    expect(resources.MigrateFunction?.Properties.VpcConfig).toBeDefined();
    expect(resources.DeployFunction?.Properties.VpcConfig).toBeUndefined();
    expect(resources.MigrateFunction?.Properties.Timeout).toBe(900);
  });

  it('substitutes exactly what the state machine definition uses', () => {
    const machine = resources.PipelineStateMachine?.Properties as {
      DefinitionUri: string;
      DefinitionSubstitutions: object;
    };
    expect(machine.DefinitionUri).toBe('statemachine/pipeline.asl.json');
    const used = new Set(
      [...readFileSync(machine.DefinitionUri, 'utf8').matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]),
    );
    expect(Object.keys(machine.DefinitionSubstitutions).sort()).toEqual([...used].sort());
    expect([...used].sort()).toEqual([...SUBSTITUTIONS].sort());
  });

  it('grants least privilege: the one secret, the one service, the one repository, the one bucket, the four functions', () => {
    for (const name of ['ConnectivityCheckFunction', 'MigrateFunction']) {
      expect(statementsOf(resources[name]?.Properties ?? {})).toEqual([
        expect.objectContaining({
          Action: 'secretsmanager:GetSecretValue',
          Resource: { Ref: 'DatabaseSecretArn' },
        }),
        expect.objectContaining({
          Action: 's3:GetObject',
          Resource: { 'Fn::Sub': `\${BundleBucket.Arn}/bundles/*` },
        }),
        expect.objectContaining({
          Action: 's3:ListBucket',
          Resource: { 'Fn::GetAtt': ['BundleBucket', 'Arn'] },
        }),
        expect.objectContaining({
          Action: 'kms:Decrypt',
          Condition: {
            StringEquals: { 'kms:ViaService': { 'Fn::Sub': `secretsmanager.\${AWS::Region}.amazonaws.com` } },
          },
        }),
      ]);
    }
    const deploy = statementsOf(resources.DeployFunction?.Properties ?? {});
    const bySid = Object.fromEntries(deploy.map((statement) => [statement.Sid, statement]));
    expect(bySid.DeployThisServiceOnly).toMatchObject({
      when: 'IsAppRunner',
      Action: ['apprunner:DescribeService', 'apprunner:UpdateService', 'apprunner:ListOperations'],
      Resource: { Ref: 'AppRunnerServiceArn' },
    });
    expect(bySid.PassTheServiceAccessRole).toMatchObject({
      when: 'IsAppRunner',
      Action: 'iam:PassRole',
      Resource: { Ref: 'AppRunnerAccessRoleArn' },
      Condition: { StringEquals: { 'iam:PassedToService': 'apprunner.amazonaws.com' } },
    });
    expect(bySid.UpdateThisEcsServiceOnly).toMatchObject({
      when: 'IsEcs',
      Action: ['ecs:DescribeServices', 'ecs:UpdateService'],
      Resource: { 'Fn::Sub': ECS_SERVICE_ARN_SUB },
    });
    expect(bySid.PassTheTaskRoles).toMatchObject({
      when: 'PassEcsRoles',
      Action: 'iam:PassRole',
      Resource: [
        { 'Fn::If': ['HasEcsTaskRole', { Ref: 'EcsTaskRoleArn' }, { Ref: 'AWS::NoValue' }] },
        { 'Fn::If': ['HasEcsExecutionRole', { Ref: 'EcsExecutionRoleArn' }, { Ref: 'AWS::NoValue' }] },
      ],
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    const resolve = Object.fromEntries(
      statementsOf(resources.ResolveImageFunction?.Properties ?? {}).map((statement) => [
        statement.Sid,
        statement,
      ]),
    );
    expect(resolve.ReadTheReleaseImages).toMatchObject({
      Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      Resource: {
        'Fn::Sub': `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/\${EcrRepositoryName}`,
      },
    });
    expect(resolve.WriteBundlesAndLayerIndexes).toMatchObject({
      Action: ['s3:GetObject', 's3:PutObject'],
      Resource: [
        { 'Fn::Sub': `\${BundleBucket.Arn}/bundles/*` },
        { 'Fn::Sub': `\${BundleBucket.Arn}/layers/*` },
      ],
    });
    expect(resources.ResolveImageFunction?.Properties.VpcConfig).toBeUndefined();
    const machine = statementsOf(resources.PipelineStateMachine?.Properties ?? {});
    expect(machine.find((s) => s.Action === 'lambda:InvokeFunction')?.Resource).toEqual([
      { 'Fn::GetAtt': ['ResolveImageFunction', 'Arn'] },
      { 'Fn::GetAtt': ['ConnectivityCheckFunction', 'Arn'] },
      { 'Fn::GetAtt': ['MigrateFunction', 'Arn'] },
      { 'Fn::GetAtt': ['DeployFunction', 'Arn'] },
    ]);
  });

  it('uses Resource "*" only for actions that cannot be scoped (log delivery, X-Ray, task definitions, the ECR token)', () => {
    const documents = Object.values(resources).flatMap((r) => [
      ...statementsOf(r.Properties ?? {}),
      ...((r.Properties?.Policies as { PolicyDocument?: { Statement: Statement[] } }[]) ?? []).flatMap(
        (p) => p.PolicyDocument?.Statement ?? [],
      ),
    ]);
    const wildcard = documents.filter(
      (s) => s.Resource === '*' || (Array.isArray(s.Resource) && s.Resource.includes('*')),
    );
    const actions = wildcard.flatMap((s) => [s.Action].flat());
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions)
      expect(action, action).toMatch(
        /^(logs:(Create|Get|Update|Delete|List)LogDeliver(y|ies)|logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)|xray:\w+|ecs:(Register|Describe)TaskDefinition|ecr:GetAuthorizationToken)$/,
      );
  });

  it("turns an ECR push, through the rule's input transformer, into pipeline input that deploys that exact image", () => {
    const rule = resources.EcrPushRule?.Properties as {
      EventPattern: { detail: Record<string, unknown>; 'detail-type': string[] };
      Targets: { InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string } }[];
    };
    const event = JSON.parse(readFileSync('events/ecr-push.json', 'utf8'));
    expect(event.resources).toEqual([]);
    expect(rule.EventPattern['detail-type']).toEqual(['ECR Image Action']);
    expect(rule.EventPattern.detail).toMatchObject({
      'action-type': ['PUSH'],
      result: ['SUCCESS'],
      'repository-name': [{ Ref: 'EcrRepositoryName' }],
    });

    const { InputPathsMap, InputTemplate } = rule.Targets[0]?.InputTransformer ?? {
      InputPathsMap: {},
      InputTemplate: '',
    };
    const values = Object.fromEntries(
      Object.entries(InputPathsMap).map(([name, path]) => [
        name,
        path
          .slice(2)
          .split('.')
          .reduce((node, key) => node[key], event),
      ]),
    );
    const transformed = JSON.parse(
      InputTemplate.replace(/<([A-Za-z0-9_-]+)>/g, (_, name: string) => values[name]),
    );
    const input = parsePipelineInput(transformed);
    const repository = `${event.account}.dkr.ecr.${event.region}.amazonaws.com/${event.detail['repository-name']}`;

    expect(input).toEqual({
      image: {
        uri: `${repository}@${event.detail['image-digest']}`,
        digest: event.detail['image-digest'],
        tag: 'v42',
      },
      source: 'ecr-push',
    });
    expect(resolveImage(input.image, repository).identifier).toBe(
      `${repository}@${event.detail['image-digest']}`,
    );
  });

  it('alarms on failed and timed-out executions, migration duration and, optionally, database connections', () => {
    const alarms = Object.values(resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => r.Properties.MetricName);
    expect(alarms).toEqual(
      expect.arrayContaining([
        'ExecutionsFailed',
        'ExecutionsTimedOut',
        'MigrationDuration',
        'DatabaseConnections',
      ]),
    );
    expect(resources.DatabaseConnectionsAlarm?.Condition).toBe('HasDatabaseInstance');
    expect(Object.keys(template.Outputs)).toEqual(
      expect.arrayContaining(['StateMachineArn', 'NotificationTopicArn']),
    );
  });
});

describe('template.yaml and the state machine together', () => {
  const definition = JSON.parse(readFileSync('statemachine/pipeline.asl.json', 'utf8')) as {
    TimeoutSeconds: number;
    States: Record<string, { Resource?: string; TimeoutSeconds?: number }>;
  };
  const functionTimeout = (placeholder: string) => {
    const name = placeholder.match(/^\$\{(\w+)Arn\}$/)?.[1] as string;
    return (resources[name]?.Properties as { Timeout: number } | undefined)?.Timeout ?? 0;
  };

  it('gives each Lambda Task a TimeoutSeconds a little above its function timeout, never equal', () => {
    const tasks = Object.entries(definition.States).filter(([, state]) =>
      state.Resource?.endsWith('FunctionArn}'),
    );
    expect(tasks.length).toBeGreaterThan(5);
    for (const [name, state] of tasks) {
      const timeout = functionTimeout(state.Resource as string);
      expect(state.TimeoutSeconds, name).toBeGreaterThan(timeout);
      expect(state.TimeoutSeconds, name).toBeLessThanOrEqual(timeout + 15);
    }
  });

  it("expires a dead release's queue turn after exactly the execution's lifetime", () => {
    const properties = resources.ConnectivityCheckFunction?.Properties as
      | { Environment: { Variables: Record<string, unknown> } }
      | undefined;
    expect(properties?.Environment.Variables.RELEASE_MAX_DURATION).toBe(`${definition.TimeoutSeconds}s`);
  });

  it('notifies every execution that ends FAILED, TIMED_OUT or ABORTED, which no Catch can see', () => {
    const rule = resources.ExecutionEndedBadlyRule?.Properties as {
      EventPattern: { detail: { status: string[] } };
      Targets: { Arn: unknown }[];
    };
    expect(rule.EventPattern.detail.status.sort()).toEqual(['ABORTED', 'FAILED', 'TIMED_OUT']);
    expect(rule.Targets[0]?.Arn).toEqual({ Ref: 'NotificationTopic' });
  });
});

describe('template.yaml: what a production account needs', () => {
  it('gives every function a log group with a retention, and the state machine too', () => {
    const logGroups = Object.values(resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');
    for (const [name] of functions) {
      const group = logGroups.find(
        (r) =>
          JSON.stringify(r.Properties?.LogGroupName) ===
          JSON.stringify({ 'Fn::Sub': `/aws/lambda/\${${name}}` }),
      );
      expect(group?.Properties?.RetentionInDays, name).toEqual({ Ref: 'LogRetentionDays' });
    }
    expect(resources.StateMachineLogGroup?.Properties?.RetentionInDays).toEqual({ Ref: 'LogRetentionDays' });
  });

  it('lets the Secrets Manager endpoint take its own subnets, one per Availability Zone', () => {
    expect(resources.SecretsManagerEndpoint?.Properties?.SubnetIds).toEqual({
      'Fn::If': ['HasEndpointSubnets', { Ref: 'SecretsManagerEndpointSubnetIds' }, { Ref: 'SubnetIds' }],
    });
  });
});
