import { loadDefinition } from '../cli/local/stateMachine.ts';

/**
 * Prints statemachine/pipeline.asl.json with its `${...}` substitutions replaced by ARNs shaped like
 * the ones CloudFormation passes, for linters that read plain ASL (statelint in CI).
 */
const functionArn = (name: string) =>
  `arn:aws:lambda:us-east-2:123456789012:function:migration-pipeline-${name}`;
const definition = await loadDefinition({
  ResolveImageFunctionArn: functionArn('ResolveImage'),
  ConnectivityCheckFunctionArn: functionArn('ConnectivityCheck'),
  MigrateFunctionArn: functionArn('Migrate'),
  DeployFunctionArn: functionArn('Deploy'),
  NotificationTopicArn: 'arn:aws:sns:us-east-2:123456789012:migration-pipeline-notifications',
});
process.stdout.write(`${JSON.stringify(definition, null, 2)}\n`);
