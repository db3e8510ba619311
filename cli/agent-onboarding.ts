import type { Client } from '#core/model/client.ts';

/** What `cairn --aws agent activate` prints: the activation and what to run on the host. */
export interface ActivationReport {
  client: string;
  activationId: string;
  activationCode: string;
  region: string;
  expires: string;
  /** What the user installs first; Cairn installs neither. */
  prerequisites: string[];
  /** The two commands to run on the host, as root, in order. */
  hostCommands: string[];
}

export const SSM_AGENT_INSTALL_GUIDE = 'https://docs.aws.amazon.com/systems-manager/latest/userguide/manually-install-ssm-agent-linux.html';

/**
 * The host's side of onboarding. Installing the SSM Agent (a package per
 * distribution) and Node.js 20+ is the user's job; the agent itself is not
 * installed: the SSM document downloads the stack's bundle for every task.
 * The code is single-quoted: SSM codes are base64-like, but a quote-safe
 * command is cheap.
 */
export function activationReport(input: { client: string; activationId: string; activationCode: string; region: string; expires: Date }): ActivationReport {
  const q = (value: string): string => `'${value.replaceAll("'", "'\\''")}'`;
  return {
    client: input.client,
    activationId: input.activationId,
    activationCode: input.activationCode,
    region: input.region,
    expires: input.expires.toISOString(),
    prerequisites: [`the SSM Agent (amazon-ssm-agent), installed but not yet registered: ${SSM_AGENT_INSTALL_GUIDE}`, 'Node.js 20 or later as `node` on root\'s PATH (the agent is one JavaScript file the backup command downloads)'],
    hostCommands: [`sudo amazon-ssm-agent -register -code ${q(input.activationCode)} -id ${q(input.activationId)} -region ${q(input.region)}`, 'sudo systemctl restart amazon-ssm-agent'],
  };
}

/** The text form: prerequisites, the two commands, and the step after them. */
export function activationLines(report: ActivationReport): string[] {
  return [
    `activation ${report.activationId} for client ${report.client} (one host, expires ${report.expires})`,
    '',
    'On the host, first install (Cairn does not):',
    ...report.prerequisites.map((p) => `  - ${p}`),
    '',
    'Then run, as root:',
    ...report.hostCommands.map((c) => `  ${c}`),
    '',
    `The register command prints the instance id (mi-...); \`cairn --aws agent list\` shows it too. Then map the client to it:`,
    `  cairn --aws client add ${report.client} --instance mi-...`,
  ];
}

/** For `agent list`: the clients mapped to each instance, by instance id. */
export function clientsByInstance(clients: readonly Client[]): Map<string, string[]> {
  const byInstance = new Map<string, string[]>();
  for (const client of clients) byInstance.set(client.instanceId, [...(byInstance.get(client.instanceId) ?? []), client.name]);
  return byInstance;
}
