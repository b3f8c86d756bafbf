import type { CiSettings } from './ciSettings.ts';

export const WORKFLOW_PATH = '.github/workflows/migration-pipeline.yml';
export const CI_GUIDE_PATH = 'docs/migration-pipeline-ci.md';
/** The repository variable holding the CI role's ARN: the release job stays off until it is set. */
export const ROLE_VARIABLE = 'AWS_ROLE_ARN';

/**
 * The app's workflow: on a pull request, the check action on the migrations; on a push to the
 * branch, build and push the image to ECR and release it with the release action. The settings are
 * checked to their own characters before they get here; the folder is quoted as it may hold anything.
 */
export function workflowYaml(settings: CiSettings): string {
  const pipeline =
    'stack' in settings.pipeline
      ? `stack: \${{ env.PIPELINE_STACK }}`
      : `state-machine-arn: \${{ env.STATE_MACHINE_ARN }}`;
  const pipelineEnv =
    'stack' in settings.pipeline
      ? `PIPELINE_STACK: ${settings.pipeline.stack}`
      : `STATE_MACHINE_ARN: ${settings.pipeline.stateMachineArn}`;
  const install = `      - uses: actions/checkout@v4
        with:
          fetch-depth: 0 # check --base compares with the pull request's base

      - uses: actions/setup-node@v4
        with:
          node-version: 24

      - run: npm ci # installs migration-pipeline, whose actions the next steps use`;
  return `# Written by \`migration-pipeline init\`; yours to edit (init leaves a changed copy alone).
# Pull requests: \`migration-pipeline check\` runs each migration on a scratch PostgreSQL and annotates
# the diff with what would lock or rewrite a busy table. Pushes to ${settings.branch}: build and push the image
# (its Dockerfile copies the migrations into it), then release it: migrations in their own step,
# then the deploy, rolled back on failure. The release job stays off until the repository variable
# ${ROLE_VARIABLE} holds the role ${CI_GUIDE_PATH} describes.
name: migration-pipeline

on:
  pull_request:
  push:
    branches: [${settings.branch}]

permissions:
  contents: read

env:
  AWS_REGION: ${settings.region}
  ECR_REPOSITORY: ${settings.ecrRepository}
  ${pipelineEnv}

jobs:
  check:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
${install}

      - uses: ${settings.actionsPath}/check
        with:
          dir: ${JSON.stringify(settings.migrationsDir)}
          # The migrations this pull request adds, checked on data (the base is in the full history).
          base: \${{ github.event.pull_request.base.sha }}

  release:
    if: github.event_name == 'push' && vars.${ROLE_VARIABLE} != ''
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write # OIDC: assume the role without stored keys
    concurrency:
      group: migration-pipeline-release
      cancel-in-progress: false
    steps:
${install}

      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: \${{ vars.${ROLE_VARIABLE} }}
          aws-region: \${{ env.AWS_REGION }}

      - id: ecr
        uses: aws-actions/amazon-ecr-login@v2

      # Tagged by commit: the stack's ECR push rule starts releases only for tags matching its
      # ReleaseTagPattern (v* by default), so this push does not start a second one.
      - name: Build and push the image
        id: image
        env:
          REGISTRY: \${{ steps.ecr.outputs.registry }}
        run: |
          image="$REGISTRY/$ECR_REPOSITORY:\${GITHUB_SHA::12}"
          docker build -t "$image" .
          docker push "$image"
          digest=$(docker inspect --format '{{index .RepoDigests 0}}' "$image" | cut -d@ -f2)
          echo "uri=$image" >> "$GITHUB_OUTPUT"
          echo "digest=$digest" >> "$GITHUB_OUTPUT"

      - uses: ${settings.actionsPath}/release
        with:
          image: \${{ steps.image.outputs.uri }}
          digest: \${{ steps.image.outputs.digest }}
          ${pipeline}
          timeout: 45min
`;
}
