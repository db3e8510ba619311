import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { type AgentRunConfig, AGENT_STATE_DIR, agentDocumentContent, agentScript, SINGLE_LINE_PATTERN } from '../../cdk/constructs/agent-document.ts';

/**
 * Runs the document's script the way the SSM Agent does: parameter references
 * substituted into the text, then /bin/sh, in the step's working directory
 * holding the downloaded agent file. A fake `node` on PATH answers the version
 * check and records the arguments it was given, one per NUL-terminated record.
 * (test/aws/agent-document-run.test.ts runs the script with the real bundle.)
 */
let dir: string;
const shells = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((shell) => fs.existsSync(shell));
const AGENT_BYTES = 'the agent bundle\n';
const config: AgentRunConfig = {
  fileName: 'abc123.mjs',
  sha256: createHash('sha256').update(AGENT_BYTES).digest('hex'),
  region: 'eu-west-3',
  jobsTable: 'CairnStack-TablesJobs-1X2Y',
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-agent-doc-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'node'), `#!/bin/sh\n[ "$1" = -e ] && exit 0\nprintf '%s\\0' "$@" > "${path.join(dir, 'args')}"\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, config.fileName), AGENT_BYTES);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** SSM's textual interpolation: every reference to the parameter becomes its raw value. */
function interpolate(script: string, values: Record<string, string>): string {
  return script.replace(/\{\{\s*(\w+)\s*\}\}/g, (ref, name: string) => values[name] ?? ref);
}

function run(shell: string, values: { taskToken: string; command: string }, agentSetsEnvironment: boolean): string[] {
  fs.rmSync(path.join(dir, 'args'), { force: true });
  const script = interpolate(agentScript(config).join('\n'), values);
  // A bare environment, as under the SSM Agent (HOME too, so bash finds no startup files).
  const env: NodeJS.ProcessEnv = { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir };
  if (agentSetsEnvironment) Object.assign(env, { SSM_taskToken: values.taskToken, SSM_command: values.command });
  const result = spawnSync(shell, ['-c', script], { cwd: dir, env, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return fs.readFileSync(path.join(dir, 'args'), 'utf8').split('\0').slice(0, -1);
}

const hostile = [
  JSON.stringify({ jobId: 7, selections: ["/home/o'brien", '/srv/$(touch pwned)', '/srv/`touch pwned`'] }),
  JSON.stringify({ selections: ['a"b', 'c\\d', '$HOME', '*', '${SSM_command}', "'; touch pwned; '"] }),
  `{"x":"CAIRN_COMMAND_END"} CAIRN_COMMAND_END`,
  '   leading and trailing spaces   ',
  '{{ taskToken }}',
];

describe('agent document script', () => {
  it.each(shells.flatMap((shell) => [true, false].map((env) => [shell, env] as const)))(
    'passes the command and token to cairn-agent byte for byte, never as shell code (%s, SSM_ variables set: %s)',
    (shell, agentSetsEnvironment) => {
      for (const command of hostile) {
        const taskToken = `AAAA+token/with=chars'"$(touch pwned)`;
        const args = run(shell, { taskToken, command }, agentSetsEnvironment);
        // The state directory is the same for every command of the document (a spanning backup's Stream and Continue meet there).
        expect(args).toEqual(['./abc123.mjs', 'run-task', '--task-token', taskToken, '--command', command, '--region', 'eu-west-3', '--jobs-table', config.jobsTable, '--state-dir', AGENT_STATE_DIR]);
        expect(fs.existsSync(path.join(dir, 'pwned'))).toBe(false);
      }
    },
  );

  it('lets the host choose the agent\'s state directory (CAIRN_AGENT_STATE_DIR), else uses the stack\'s', () => {
    fs.rmSync(path.join(dir, 'args'), { force: true });
    const script = interpolate(agentScript(config).join('\n'), { taskToken: 't', command: '{}' });
    const env = { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir, CAIRN_AGENT_STATE_DIR: '/srv/cairn state' };
    expect(spawnSync('/bin/sh', ['-c', script], { cwd: dir, env, encoding: 'utf8' }).status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'args'), 'utf8').split('\0').slice(-3, -1)).toEqual(['--state-dir', '/srv/cairn state']);
  });

  it('refuses multi-line values, which could close the here-document', () => {
    const pattern = new RegExp(SINGLE_LINE_PATTERN);
    expect(pattern.test(JSON.stringify({ selections: ['/a\nb'] }))).toBe(true);
    expect(pattern.test('{"x":1}\nCAIRN_COMMAND_END\ntouch pwned')).toBe(false);
    expect(pattern.test('a\rb')).toBe(false);
    expect(pattern.test('')).toBe(false);
  });

  it('declares every parameter it references, each with ENV_VAR interpolation and the single-line pattern', () => {
    const content = agentDocumentContent(config, { httpUrl: 'https://s3.eu-west-3.amazonaws.com/assets/abc123.mjs' }) as { parameters: Record<string, { interpolationType: string; allowedPattern: string }> };
    const referenced = new Set([...agentScript(config).join('\n').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]));
    expect([...referenced].sort()).toEqual(Object.keys(content.parameters).sort());
    for (const parameter of Object.values(content.parameters)) {
      expect(parameter).toMatchObject({ interpolationType: 'ENV_VAR', allowedPattern: SINGLE_LINE_PATTERN });
    }
  });

  it('refuses to run an agent file whose sha256 is not the published one, or that is missing', () => {
    const script = agentScript({ ...config, sha256: 'f'.repeat(64) }).join('\n');
    const env = { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir, SSM_taskToken: 't', SSM_command: '{}' };
    fs.rmSync(path.join(dir, 'args'), { force: true });
    const changed = spawnSync('/bin/sh', ['-c', script], { cwd: dir, env, encoding: 'utf8' });
    expect(changed.status).toBe(1);
    expect(changed.stderr).toContain(`has sha256 ${config.sha256}, not the ${'f'.repeat(64)} this stack published`);
    const missing = spawnSync('/bin/sh', ['-c', agentScript({ ...config, fileName: 'other.mjs' }).join('\n')], { cwd: dir, env, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('./other.mjs is missing');
    expect(fs.existsSync(path.join(dir, 'args'))).toBe(false);
  });

  it('refuses at synth a stack value that could end its quotes in the script', () => {
    expect(() => agentScript({ ...config, jobsTable: "x'; touch pwned; '" })).toThrow(/jobs table/);
    expect(() => agentScript({ ...config, sha256: 'not-hex' })).toThrow(/sha256/);
  });

  it('downloads the agent into the directory the script runs in', () => {
    const content = agentDocumentContent(config, { httpUrl: 'https://s3.eu-west-3.amazonaws.com/assets/abc123.mjs' }) as { mainSteps: { action: string; inputs: Record<string, unknown> }[] };
    const [download, run] = content.mainSteps;
    expect(download).toMatchObject({ action: 'aws:downloadContent', inputs: { sourceType: 'S3', sourceInfo: '{"path":"https://s3.eu-west-3.amazonaws.com/assets/abc123.mjs"}' } });
    expect(run?.action).toBe('aws:runShellScript');
    expect(run?.inputs.workingDirectory).toBe(download?.inputs.destinationPath);
  });
});
