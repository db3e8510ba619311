import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';

/** What a client of a deployed stack needs to find it: the tables and the backup-job state machine. */
export interface Deployment {
  configTable: string;
  jobsTable: string;
  catalogTable: string;
  mediaTable: string;
  stateMachineArn: string;
}

export interface DeploymentLookup {
  /** The CloudFormation stack; default `CairnStack` (the CDK app's). */
  stack?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
}

/**
 * The stack outputs (cdk/cairn-stack.ts) that name each part, by exact output
 * key: the stack sets no fixed physical names (each ends in the stack's own
 * id), so these outputs are the only way to find them, and a loose match
 * could pick another output that merely contains the word.
 */
export const DEPLOYMENT_OUTPUT_KEYS: Readonly<Record<keyof Deployment, string>> = Object.freeze({
  configTable: 'ConfigTableName',
  jobsTable: 'JobsTableName',
  catalogTable: 'CatalogTableName',
  mediaTable: 'MediaTableName',
  stateMachineArn: 'BackupJobStateMachineArn',
});

/** Environment variables that name each part without asking CloudFormation. */
export const deploymentEnvNames: Record<keyof Deployment, string> = {
  configTable: 'CAIRN_CONFIG_TABLE',
  jobsTable: 'CAIRN_JOBS_TABLE',
  catalogTable: 'CAIRN_CATALOG_TABLE',
  mediaTable: 'CAIRN_MEDIA_TABLE',
  stateMachineArn: 'CAIRN_STATE_MACHINE_ARN',
};

/**
 * Finds a deployment: every part from the CAIRN_* variables when all are set,
 * otherwise from the stack's outputs (a variable that is set still wins).
 * A stack that cannot be read, or lacks an output, is status 20 saying which
 * variable to set.
 */
export async function resolveDeployment(lookup: DeploymentLookup, env: NodeJS.ProcessEnv = process.env): Promise<Deployment> {
  const fromEnv = Object.fromEntries(Object.entries(deploymentEnvNames).map(([k, v]) => [k, env[v]])) as Partial<Deployment>;
  if (Object.values(fromEnv).every(Boolean)) return fromEnv as Deployment;
  const stackName = lookup.stack ?? 'CairnStack';
  const cfn = new CloudFormationClient({ region: lookup.region, endpoint: lookup.endpoint, profile: lookup.profile });
  try {
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    const outputs = stack?.Outputs ?? [];
    const find = (key: keyof Deployment): string => {
      const value = fromEnv[key] ?? outputs.find((o) => o.OutputKey === DEPLOYMENT_OUTPUT_KEYS[key])?.OutputValue;
      if (!value) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `stack ${stackName} has no output ${DEPLOYMENT_OUTPUT_KEYS[key]}; set ${deploymentEnvNames[key]}`);
      return value;
    };
    return { configTable: find('configTable'), jobsTable: find('jobsTable'), catalogTable: find('catalogTable'), mediaTable: find('mediaTable'), stateMachineArn: find('stateMachineArn') };
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `cannot read stack ${stackName}: set ${Object.values(deploymentEnvNames).join(', ')} or deploy with cdk deploy`, { cause: error });
  } finally {
    cfn.destroy();
  }
}

/** Environment variable naming the agent role without asking CloudFormation. */
export const AGENT_ROLE_ENV = 'CAIRN_AGENT_ROLE_NAME';

/**
 * The agent role's name (stack output AgentRoleName), for hybrid
 * activations: CAIRN_AGENT_ROLE_NAME when set, else the stack's output.
 * Status 20 naming the variable when neither gives it.
 */
export async function resolveAgentRoleName(lookup: DeploymentLookup, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return resolveOutput(lookup, 'AgentRoleName', AGENT_ROLE_ENV, env);
}

/** Environment variable naming the operator's agent document without asking CloudFormation. */
export const AGENT_COMMAND_DOCUMENT_ENV = 'CAIRN_AGENT_COMMAND_DOCUMENT';

/**
 * The RunAgentCommand document's name (stack output AgentCommandDocumentName),
 * which `cairn --aws robot inventory` sends to the robot's host:
 * CAIRN_AGENT_COMMAND_DOCUMENT when set, else the stack's output.
 */
export async function resolveAgentCommandDocument(lookup: DeploymentLookup, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return resolveOutput(lookup, 'AgentCommandDocumentName', AGENT_COMMAND_DOCUMENT_ENV, env);
}

/** One stack output by exact key, the variable winning when set; status 20 naming the variable when neither gives it. */
async function resolveOutput(lookup: DeploymentLookup, outputKey: string, envName: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (env[envName]) return env[envName];
  const stackName = lookup.stack ?? 'CairnStack';
  const cfn = new CloudFormationClient({ region: lookup.region, endpoint: lookup.endpoint, profile: lookup.profile });
  let value: string | undefined;
  try {
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    value = stack?.Outputs?.find((o) => o.OutputKey === outputKey)?.OutputValue;
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `cannot read stack ${stackName}: set ${envName} or deploy with cdk deploy`, { cause: error });
  } finally {
    cfn.destroy();
  }
  if (!value) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `stack ${stackName} has no output ${outputKey}; set ${envName}`);
  return value;
}

/** The restore-job state machine's stack output (cdk/cairn-stack.ts), and the variable that names it without asking CloudFormation. */
export const RESTORE_STATE_MACHINE_OUTPUT_KEY = 'RestoreJobStateMachineArn';
export const RESTORE_STATE_MACHINE_ENV = 'CAIRN_RESTORE_STATE_MACHINE_ARN';

/**
 * The restore-job state machine's ARN, which `cairn --aws restore` of a tape
 * image starts: CAIRN_RESTORE_STATE_MACHINE_ARN when set, else the stack's
 * output. Looked up only for a tape restore, so a stack deployed before it had
 * one still serves every other command; there it is status 20 naming the variable.
 */
export async function resolveRestoreStateMachineArn(lookup: DeploymentLookup, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return resolveOutput(lookup, RESTORE_STATE_MACHINE_OUTPUT_KEY, RESTORE_STATE_MACHINE_ENV, env);
}

/** The verify-job state machine's stack output, and the variable that names it (the stack does not deploy it yet: until it does, set the variable). */
export const VERIFY_STATE_MACHINE_OUTPUT_KEY = 'VerifyJobStateMachineArn';
export const VERIFY_STATE_MACHINE_ENV = 'CAIRN_VERIFY_STATE_MACHINE_ARN';

/** The verify-job state machine's ARN, which `cairn --aws verify` starts; status 20 naming the variable when neither gives it. */
export async function resolveVerifyStateMachineArn(lookup: DeploymentLookup, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return resolveOutput(lookup, VERIFY_STATE_MACHINE_OUTPUT_KEY, VERIFY_STATE_MACHINE_ENV, env);
}
