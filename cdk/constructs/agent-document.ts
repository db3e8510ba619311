import { Arn, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { AgentBundle } from './agent-bundle.ts';
import { uniqueName } from '../stack-settings.ts';

/**
 * The operator's document's script step: GetCommandInvocation's PluginName
 * for its output. aws/ssm-agent-command.ts reads it by the same name
 * (test/cdk/cairn-stack.test.ts checks they agree; cdk/ does not import aws/).
 */
export const AGENT_COMMAND_STEP = 'runAgentCommand';

/** The middle of the document's name: `<prefix>-RunBackupTask-<stack id>` (stack-settings.ts uniqueName). */
export const AGENT_DOCUMENT_BASE_NAME = 'RunBackupTask';
/** The operator's document (`run-command`): `<prefix>-RunAgentCommand-<stack id>`. */
export const AGENT_COMMAND_DOCUMENT_BASE_NAME = 'RunAgentCommand';

/**
 * Which agent entry a document runs: `run-task`, a workflow's command with
 * its Step Functions task token (Mount, Stream, Unmount); `run-command`, an
 * operator's command with no token (`cairn --aws robot inventory`), whose
 * result the agent prints and SSM keeps for the sender.
 */
export type AgentRunner = 'run-task' | 'run-command';

/**
 * The agent's state directory on a host when the document runs it (its
 * `--state-dir`), unless the host's environment sets CAIRN_AGENT_STATE_DIR:
 * a spanning backup's Stream and its Continue steps meet there.
 */
export const AGENT_STATE_DIR = '/var/lib/cairn-agent';



/**
 * aws:runShellScript's own ceiling (48 hours). SSM stops the script when it is
 * reached; the Stream state's HeartbeatSeconds then notices the silent agent.
 */
export const AGENT_SCRIPT_TIMEOUT_SECONDS = 172_800;

/**
 * One line, no CR or LF (RE2, as SSM evaluates allowedPattern). JSON from
 * `States.JsonToString` and Step Functions task tokens never contain a raw line
 * break, so this refuses nothing legitimate; it is what makes the here-document
 * fallback below safe.
 */
export const SINGLE_LINE_PATTERN = '^[^\\r\\n]+$';

/**
 * Where the document puts the agent on the host: the download step's
 * destination and the script step's working directory (the script refers to
 * the file relative to it, so a test can run the script in a temp directory).
 */
export const AGENT_DIRECTORY = '/var/lib/cairn-agent/';

/** What the script needs to know about the stack, all fixed at synth (CloudFormation tokens in the stack). */
export interface AgentRunConfig {
  /** The agent file's name in AGENT_DIRECTORY: the basename of the asset's S3 key. */
  readonly fileName: string;
  /** sha256 (hex) of the bundle the stack published, computed at synth from the built file. */
  readonly sha256: string;
  /** The stack's region: the agent's SDK clients use it (SSM does not set AWS_REGION for the script). */
  readonly region: string;
  /** The Jobs table the agent records progress on and reads cancellation from. */
  readonly jobsTable: string;
}

/** Values that are written into the script between single quotes: a token (resolved by CloudFormation) or a plain name. */
const SAFE_LITERAL = /^[A-Za-z0-9._-]+$/;

function literal(name: string, value: string): string {
  // Region and table names resolved by CloudFormation are [A-Za-z0-9._-] by AWS's own rules.
  if (!Token.isUnresolved(value) && !SAFE_LITERAL.test(value)) throw new Error(`agent document: ${name} ${JSON.stringify(value)} may only hold letters, digits, '.', '_' and '-'`);
  return `'${value}'`;
}

/**
 * The script the document runs, one array entry per line.
 *
 * Quoting: SSM substitutes a parameter reference (double braces around the
 * name) into the script as raw text before the shell sees it. Written inside
 * quotes, as in `--command '<ref>'`, a command whose selections contain a `'` (a path
 * like /home/o'brien) would end the quote and run the rest as shell code, as
 * root. So the values never appear in shell syntax:
 *
 * - With `interpolationType: ENV_VAR` (SSM Agent 3.3.2746.0 and later) SSM also
 *   passes each value as the environment variable `SSM_<name>`, and the script
 *   uses only `"$SSM_command"` / `"$SSM_taskToken"`, always double-quoted.
 * - Older agents do not set those variables. The script then reads each value
 *   from a here-document whose delimiter is quoted, so the shell performs no
 *   expansion of any kind inside it. The only way out of a here-document is a
 *   line equal to the delimiter, and allowedPattern keeps every value on a single
 *   line, so no value can end it early.
 *
 * The stack's own values (file name, checksum, region, table) are fixed at
 * synth and written single-quoted; `literal` refuses any that could end the quote.
 *
 * Before running anything it checks Node (the bundle targets Node 20) and the
 * file's sha256 against the one the stack published, so a file changed on the
 * host, or one of another version, is never run. What it cannot do on those
 * failures is end the task token (that needs the agent): SSM records the
 * command as failed with the message on stderr, and the Stream state's
 * HeartbeatSeconds ends the job.
 *
 * POSIX sh only: SSM runs the script with /bin/sh, which may be dash.
 */
export function agentScript(config: AgentRunConfig, runner: AgentRunner = 'run-task'): string[] {
  if (!/^[0-9a-f]{64}$/.test(config.sha256)) throw new Error(`agent document: ${JSON.stringify(config.sha256)} is not a sha256 in hex`);
  const token = [
    'if [ -z "${SSM_taskToken+x}" ]; then',
    "IFS= read -r SSM_taskToken <<'CAIRN_TASK_TOKEN_END'",
    '{{ taskToken }}',
    'CAIRN_TASK_TOKEN_END',
    'fi',
  ];
  const run =
    runner === 'run-task'
      ? // --state-dir: where a tape backup waiting for its next volume meets the Continue step's process (FileRendezvous):
        // both are commands of this document, so they must agree on it whatever HOME the SSM Agent gives them (often none).
        `exec node "$agent" run-task --task-token "$SSM_taskToken" --command "$SSM_command" --region ${literal('region', config.region)} --jobs-table ${literal('jobs table', config.jobsTable)} --state-dir "\${CAIRN_AGENT_STATE_DIR:-${AGENT_STATE_DIR}}"`
      : // An operator's command touches no AWS service itself: its answer is its stdout. --state-dir: the janitor's
        // delete-snapshot removes the images the run-task processes recorded there.
        `exec node "$agent" run-command --command "$SSM_command" --state-dir "\${CAIRN_AGENT_STATE_DIR:-${AGENT_STATE_DIR}}"`;
  return [
    'set -eu',
    '# SSM Agent < 3.3.2746.0 does not export SSM_<parameter>: fall back to the textual value,',
    '# read from a quoted here-document (no expansion; allowedPattern keeps it to one line).',
    ...(runner === 'run-task' ? token : []),
    'if [ -z "${SSM_command+x}" ]; then',
    "IFS= read -r SSM_command <<'CAIRN_COMMAND_END'",
    '{{ command }}',
    'CAIRN_COMMAND_END',
    'fi',
    `agent=./${literal('file name', config.fileName)}`,
    "if ! command -v node >/dev/null 2>&1; then echo 'cairn: node is not on PATH: the Cairn agent needs Node.js 20 or later on this host' >&2; exit 127; fi",
    "if ! node -e 'process.exit(Number(process.versions.node.split(\".\")[0]) >= 20 ? 0 : 1)'; then echo \"cairn: node $(node --version) is too old: the Cairn agent needs Node.js 20 or later\" >&2; exit 1; fi",
    'if [ ! -f "$agent" ]; then echo "cairn: $agent is missing in $(pwd): the download step did not place the agent" >&2; exit 1; fi',
    "if ! command -v sha256sum >/dev/null 2>&1; then echo 'cairn: sha256sum is not on PATH: it checks the agent before it runs (coreutils or busybox)' >&2; exit 127; fi",
    'set -- $(sha256sum "$agent")',
    `if [ "$1" != '${config.sha256}' ]; then echo "cairn: $agent has sha256 $1, not the ${config.sha256} this stack published: refusing to run it" >&2; exit 1; fi`,
    run,
  ];
}

/** Where the download step fetches the agent from: the asset's object, by its HTTPS URL (aws:downloadContent's S3 source). */
export interface AgentSource {
  readonly httpUrl: string;
}

/** The Command document's content (schema 2.2): download the agent, then check and run it. */
export function agentDocumentContent(config: AgentRunConfig, source: AgentSource, runner: AgentRunner = 'run-task'): Record<string, unknown> {
  const taskToken = {
    type: 'String',
    description: 'Step Functions task token the agent reports to (SendTaskHeartbeat, SendTaskSuccess, SendTaskFailure).',
    interpolationType: 'ENV_VAR',
    allowedPattern: SINGLE_LINE_PATTERN,
  };
  return {
    schemaVersion: '2.2',
    description:
      runner === 'run-task'
        ? 'Cairn: run one agent command (a backup) with the edge agent on this managed instance. The agent heartbeats and ends the Step Functions task token itself.'
        : 'Cairn: run one operator command (a library inventory) with the edge agent on this managed instance. The agent prints its result as one line of JSON on stdout (GetCommandInvocation).',
    parameters: {
      ...(runner === 'run-task' ? { taskToken } : {}),
      command: {
        type: 'String',
        description: 'The agent command envelope as one line of JSON (core/model/agent-command.ts), e.g. {"kind":"backup","task":{...}}.',
        interpolationType: 'ENV_VAR',
        allowedPattern: SINGLE_LINE_PATTERN,
      },
    },
    mainSteps: [
      {
        // With the instance's own credentials (the agent role: read access to this asset only); the host needs no AWS CLI.
        action: 'aws:downloadContent',
        name: 'downloadAgent',
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          sourceType: 'S3',
          sourceInfo: JSON.stringify({ path: source.httpUrl }),
          destinationPath: AGENT_DIRECTORY,
        },
      },
      {
        action: 'aws:runShellScript',
        name: runner === 'run-task' ? 'runBackupTask' : AGENT_COMMAND_STEP,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          timeoutSeconds: String(AGENT_SCRIPT_TIMEOUT_SECONDS),
          workingDirectory: AGENT_DIRECTORY,
          runCommand: agentScript(config, runner),
        },
      },
    ],
  };
}

export interface AgentDocumentProps {
  /** The agent bundle the document fetches and runs. */
  readonly bundle: AgentBundle;
  /** The Jobs table name, passed to the agent. */
  readonly jobsTable: string;
  /** Which agent entry it runs; default `run-task` (the workflow's document). */
  readonly runner?: AgentRunner;
}

/**
 * The SSM Command document the Stream state sends (ssm:sendCommand.waitForTaskToken)
 * to the agent's managed instance: Cairn's replacement for PBX/vnetd, with no
 * inbound port on the host. With `runner: 'run-command'`, the operator's
 * document (`cairn --aws robot inventory` sends it to the robot's host). Each stack version's document names the agent
 * bundle of that version (asset key and sha256), so a host always runs the
 * agent that matches the workflow that sent the command.
 */
export class AgentDocument extends Construct {
  readonly documentName: string;

  constructor(scope: Construct, id: string, props: AgentDocumentProps) {
    super(scope, id);
    const { bundle } = props;
    const config: AgentRunConfig = { fileName: bundle.fileName, sha256: bundle.sha256, region: Stack.of(this).region, jobsTable: props.jobsTable };
    const document = new ssm.CfnDocument(this, 'Document', {
      // Not a fixed name: a second stack in the account, or this one deployed
      // again, gets a document of its own. The state machine receives the name
      // through its definition substitutions, operators through the
      // AgentDocumentName output.
      name: uniqueName(this, props.runner === 'run-command' ? AGENT_COMMAND_DOCUMENT_BASE_NAME : AGENT_DOCUMENT_BASE_NAME),
      documentType: 'Command',
      documentFormat: 'JSON',
      // Hybrid (mi-) and EC2 (i-) managed instances alike.
      targetType: '/',
      // A named document cannot be replaced in place; new content becomes a new
      // (default) version instead.
      updateMethod: 'NewVersion',
      content: agentDocumentContent(config, { httpUrl: bundle.asset.httpUrl }, props.runner),
    });
    this.documentName = document.ref;
  }
}

/**
 * SendCommand of the operator's document (RunAgentCommand) only, to any
 * agent instance: a hybrid managed instance or an EC2 instance, chosen at
 * run time from the job's or the robot's client (`*`). Shared by the
 * functions that send operator commands (the scheduler's idle unload and
 * probe, the janitor's snapshot delete).
 */
export function sendAgentCommandStatement(scope: Construct, documentName: string): iam.PolicyStatement {
  const stack = Stack.of(scope);
  return new iam.PolicyStatement({
    actions: ['ssm:SendCommand'],
    resources: [
      Arn.format({ service: 'ssm', resource: 'document', resourceName: documentName }, stack),
      Arn.format({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }, stack),
      Arn.format({ service: 'ec2', resource: 'instance', resourceName: '*' }, stack),
    ],
  });
}
