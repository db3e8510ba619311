import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentDocumentContent, agentScript, SINGLE_LINE_PATTERN } from '../../cdk/constructs/agent-document.ts';

/**
 * Runs the document's script the way the SSM Agent does: parameter references
 * substituted into the text, then /bin/sh. A fake `cairn-agent` on PATH records
 * the arguments it was given, one per NUL-terminated record.
 */
let dir: string;
const shells = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((shell) => fs.existsSync(shell));

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-agent-doc-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'cairn-agent'), `#!/bin/sh\nprintf '%s\\0' "$@" > "${path.join(dir, 'args')}"\n`, { mode: 0o755 });
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
  const script = interpolate(agentScript().join('\n'), values);
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
        expect(args).toEqual(['run-task', '--task-token', taskToken, '--command', command]);
        expect(fs.existsSync(path.join(dir, 'pwned'))).toBe(false);
      }
    },
  );

  it('refuses multi-line values, which could close the here-document', () => {
    const pattern = new RegExp(SINGLE_LINE_PATTERN);
    expect(pattern.test(JSON.stringify({ selections: ['/a\nb'] }))).toBe(true);
    expect(pattern.test('{"x":1}\nCAIRN_COMMAND_END\ntouch pwned')).toBe(false);
    expect(pattern.test('a\rb')).toBe(false);
    expect(pattern.test('')).toBe(false);
  });

  it('declares every parameter it references, each with ENV_VAR interpolation and the single-line pattern', () => {
    const content = agentDocumentContent() as { parameters: Record<string, { interpolationType: string; allowedPattern: string }> };
    const referenced = new Set([...agentScript().join('\n').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]));
    expect([...referenced].sort()).toEqual(Object.keys(content.parameters).sort());
    for (const parameter of Object.values(content.parameters)) {
      expect(parameter).toMatchObject({ interpolationType: 'ENV_VAR', allowedPattern: SINGLE_LINE_PATTERN });
    }
  });
});
