import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { uniqueName } from '../stack-settings.ts';

/** The middle of the document's name: `<prefix>-RunBackupTask-<stack id>` (stack-settings.ts uniqueName). */
export const AGENT_DOCUMENT_BASE_NAME = 'RunBackupTask';

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
 * POSIX sh only: SSM runs the script with /bin/sh, which may be dash.
 */
export function agentScript(): string[] {
  return [
    'set -eu',
    '# SSM Agent < 3.3.2746.0 does not export SSM_<parameter>: fall back to the textual value,',
    '# read from a quoted here-document (no expansion; allowedPattern keeps it to one line).',
    'if [ -z "${SSM_taskToken+x}" ]; then',
    "IFS= read -r SSM_taskToken <<'CAIRN_TASK_TOKEN_END'",
    '{{ taskToken }}',
    'CAIRN_TASK_TOKEN_END',
    'fi',
    'if [ -z "${SSM_command+x}" ]; then',
    "IFS= read -r SSM_command <<'CAIRN_COMMAND_END'",
    '{{ command }}',
    'CAIRN_COMMAND_END',
    'fi',
    'exec cairn-agent run-task --task-token "$SSM_taskToken" --command "$SSM_command"',
  ];
}

/** The Command document's content (schema 2.2). */
export function agentDocumentContent(): Record<string, unknown> {
  return {
    schemaVersion: '2.2',
    description:
      'Cairn: run one agent command (a backup) with the edge agent on this managed instance. The agent heartbeats and ends the Step Functions task token itself.',
    parameters: {
      taskToken: {
        type: 'String',
        description: 'Step Functions task token the agent reports to (SendTaskHeartbeat, SendTaskSuccess, SendTaskFailure).',
        interpolationType: 'ENV_VAR',
        allowedPattern: SINGLE_LINE_PATTERN,
      },
      command: {
        type: 'String',
        description: 'The agent command envelope as one line of JSON (core/model/agent-command.ts), e.g. {"kind":"backup","task":{...}}.',
        interpolationType: 'ENV_VAR',
        allowedPattern: SINGLE_LINE_PATTERN,
      },
    },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'runBackupTask',
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          timeoutSeconds: String(AGENT_SCRIPT_TIMEOUT_SECONDS),
          runCommand: agentScript(),
        },
      },
    ],
  };
}

/**
 * The SSM Command document the Stream state sends (ssm:sendCommand.waitForTaskToken)
 * to the agent's managed instance: Cairn's replacement for PBX/vnetd, with no
 * inbound port on the host.
 */
export class AgentDocument extends Construct {
  readonly documentName: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const document = new ssm.CfnDocument(this, 'Document', {
      // Not a fixed name: a second stack in the account, or this one deployed
      // again, gets a document of its own. The state machine receives the name
      // through its definition substitutions, operators through the
      // AgentDocumentName output.
      name: uniqueName(this, AGENT_DOCUMENT_BASE_NAME),
      documentType: 'Command',
      documentFormat: 'JSON',
      // Hybrid (mi-) and EC2 (i-) managed instances alike.
      targetType: '/',
      // A named document cannot be replaced in place; new content becomes a new
      // (default) version instead.
      updateMethod: 'NewVersion',
      content: agentDocumentContent(),
    });
    this.documentName = document.ref;
  }
}
