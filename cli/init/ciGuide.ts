import { executionArnFor } from '../release/executionName.ts';
import type { CiSettings } from './ciSettings.ts';
import { ROLE_VARIABLE, WORKFLOW_PATH } from './workflow.ts';

const OIDC_HOST = 'token.actions.githubusercontent.com';

/**
 * The IAM role the workflow's release job assumes, to the call: the pushes `docker push` makes to
 * the app's ECR repository, and what `migration-pipeline start --wait` calls (cli/release/locate.ts:
 * DescribeStacks for --stack; cli/release/start.ts: StartExecution, DescribeExecution when a re-run
 * attaches, GetExecutionHistory and DescribeExecution while following). Names it cannot know stay
 * in capitals for the reader to fill in, with the command that tells them.
 */
export function ciGuideMarkdown(settings: CiSettings): string {
  const fromArn = 'stateMachineArn' in settings.pipeline ? settings.pipeline.stateMachineArn : undefined;
  const account = fromArn?.split(':')[4] ?? 'ACCOUNT_ID';
  const stateMachineArn =
    fromArn ?? `arn:aws:states:${settings.region}:${account}:stateMachine:STATE_MACHINE_NAME`;
  const executions = executionArnFor(stateMachineArn, '*');
  const repository = settings.githubRepository ?? 'OWNER/REPOSITORY';
  const stack = 'stack' in settings.pipeline ? settings.pipeline.stack : undefined;

  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::${account}:oidc-provider/${OIDC_HOST}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${OIDC_HOST}:aud`]: 'sts.amazonaws.com',
            [`${OIDC_HOST}:sub`]: `repo:${repository}:ref:refs/heads/${settings.branch}`,
          },
        },
      },
    ],
  };
  const permissions = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'EcrLogin', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      {
        Sid: 'PushTheAppImage',
        Effect: 'Allow',
        Action: [
          'ecr:BatchCheckLayerAvailability',
          'ecr:InitiateLayerUpload',
          'ecr:UploadLayerPart',
          'ecr:CompleteLayerUpload',
          'ecr:PutImage',
          'ecr:BatchGetImage',
        ],
        Resource: `arn:aws:ecr:${settings.region}:${account}:repository/${settings.ecrRepository}`,
      },
      ...(stack
        ? [
            {
              Sid: 'FindThePipeline',
              Effect: 'Allow',
              Action: 'cloudformation:DescribeStacks',
              Resource: `arn:aws:cloudformation:${settings.region}:${account}:stack/${stack}/*`,
            },
          ]
        : []),
      { Sid: 'StartRelease', Effect: 'Allow', Action: 'states:StartExecution', Resource: stateMachineArn },
      {
        Sid: 'FollowRelease',
        Effect: 'Allow',
        Action: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        Resource: executions,
      },
    ],
  };
  const json = (value: unknown) => `\`\`\`json\n${JSON.stringify(value, null, 2)}\n\`\`\``;
  const placeholders = [
    ...(account === 'ACCOUNT_ID'
      ? ['- `ACCOUNT_ID`: the AWS account (`aws sts get-caller-identity --query Account --output text`).']
      : []),
    ...(fromArn
      ? []
      : [
          `- \`STATE_MACHINE_NAME\`: the last part of the stack's \`StateMachineArn\` output:\n` +
            `  \`aws cloudformation describe-stacks --stack-name ${stack} --region ${settings.region} --query "Stacks[0].Outputs[?OutputKey=='StateMachineArn'].OutputValue" --output text\``,
        ]),
    ...(settings.githubRepository
      ? []
      : ['- `OWNER/REPOSITORY`: this repository on GitHub (no `origin` remote on GitHub was found).']),
  ];

  return `# The IAM role CI needs

Written by \`migration-pipeline init\` for the workflow [\`${WORKFLOW_PATH}\`](../${WORKFLOW_PATH}).
Its pull-request check needs no AWS access. Its release job (pushes to \`${settings.branch}\`) assumes
one role through GitHub's OIDC provider, so no AWS keys are stored in GitHub; the job stays off until
the repository variable \`${ROLE_VARIABLE}\` holds the role's ARN.

${placeholders.length > 0 ? `Fill in:\n\n${placeholders.join('\n')}\n\n` : ''}## 1. GitHub's OIDC provider (once per AWS account)

\`\`\`sh
aws iam create-open-id-connect-provider --url https://${OIDC_HOST} --client-id-list sts.amazonaws.com
\`\`\`

## 2. The role, trusted by \`${repository}\` on \`${settings.branch}\` only

\`trust-policy.json\`:

${json(trust)}

\`\`\`sh
aws iam create-role --role-name migration-pipeline-ci --assume-role-policy-document file://trust-policy.json
\`\`\`

## 3. What it may do

| permission | used by | on |
| --- | --- | --- |
| \`ecr:GetAuthorizationToken\` | \`aws-actions/amazon-ecr-login\` | \`*\` (it takes no resource) |
| \`ecr:BatchCheckLayerAvailability\`, \`InitiateLayerUpload\`, \`UploadLayerPart\`, \`CompleteLayerUpload\`, \`PutImage\`, \`BatchGetImage\` | \`docker push\` | the app's repository \`${settings.ecrRepository}\` |
${stack ? `| \`cloudformation:DescribeStacks\` | \`migration-pipeline start --stack ${stack}\`: the state machine is the stack's \`StateMachineArn\` output | the stack |\n` : ''}| \`states:StartExecution\` | \`migration-pipeline start\` | the state machine |
| \`states:DescribeExecution\`, \`states:GetExecutionHistory\` | \`start\` attaching a re-run job to its release, and \`--wait\` following it | the state machine's executions |

\`permissions.json\`:

${json(permissions)}

\`\`\`sh
aws iam put-role-policy --role-name migration-pipeline-ci --policy-name release --policy-document file://permissions.json
\`\`\`

## 4. Turn the release job on

\`\`\`sh
gh variable set ${ROLE_VARIABLE} --body arn:aws:iam::${account}:role/migration-pipeline-ci
\`\`\`

The migrations travel in the image: the Dockerfile copies them to \`/app/migrations\` (or the image
label \`io.migration-pipeline.migrations\` names where they are), and the pipeline reads them from
the image it deploys.
`;
}
