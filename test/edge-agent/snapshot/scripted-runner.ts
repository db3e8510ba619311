import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunTool, ToolResult } from '#agent/snapshot/run-tool.ts';

/** One expected tool call and the answer the tool gives. */
export interface ScriptedCall {
  command: string[];
  result: Partial<ToolResult>;
}

/**
 * A RunTool that plays a script: each call must be the next expected
 * command line (argv, compared exactly), and it answers with that step's
 * output. `calls` records every command line, `remaining` what was not run.
 */
export function scriptedRunner(script: ScriptedCall[]): { run: RunTool; calls: string[][]; remaining: () => ScriptedCall[] } {
  const queue = [...script];
  const calls: string[][] = [];
  const run: RunTool = async (file, args) => {
    const command = [file, ...args];
    calls.push(command);
    const next = queue.shift();
    if (next === undefined) throw new Error(`unexpected command: ${command.join(' ')}`);
    if (JSON.stringify(next.command) !== JSON.stringify(command)) throw new Error(`expected \`${next.command.join(' ')}\`, got \`${command.join(' ')}\``);
    return { exitCode: 0, stdout: '', stderr: '', ...next.result };
  };
  return { run, calls, remaining: () => queue };
}

const FIXTURES = new URL('../../fixtures/snapshot/', import.meta.url).pathname;

/** A captured tool output (test/fixtures/snapshot/README.md says where each comes from). */
export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** The captured findmnt report of an ext4 loop mount, with another target, source and type (findmnt's JSON shape is the same for every file system). */
export function findmntReport(target: string, source: string, fstype: string): string {
  const report = JSON.parse(fixture('findmnt-ext4-loop.json')) as { filesystems: Record<string, string>[] };
  report.filesystems[0] = { ...report.filesystems[0], target, source, fstype };
  return JSON.stringify(report, null, 3);
}
