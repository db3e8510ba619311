import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

/*
 * The data mover's own entry (edge-agent/transport/mover-main.ts): what
 * `cairn-agent mover` starts, so that each offhost job's mover process
 * does not load the whole agent, the AWS SDK above all.
 */

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const run = promisify(execFile);

/** The packages a bundle of `entry` loads as it starts: those its output reaches by static imports, not through import(). */
async function packagesLoadedAtStart(entry: string): Promise<Set<string>> {
  const result = await esbuild.build({ absWorkingDir: REPO, entryPoints: { main: entry }, bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', outdir: path.join(tmpdir(), 'unwritten'), write: false, metafile: true, logLevel: 'silent' });
  const outputs = result.metafile.outputs;
  const entryOut = Object.keys(outputs).find((o) => outputs[o]!.entryPoint !== undefined)!;
  const loaded = new Set<string>();
  const seen = new Set<string>();
  const visit = (output: string): void => {
    if (seen.has(output)) return;
    seen.add(output);
    for (const imported of outputs[output]!.imports) {
      if (imported.kind === 'dynamic-import') continue;
      if (imported.external) loaded.add(imported.path);
      else visit(imported.path);
    }
  };
  visit(entryOut);
  return loaded;
}

describe('the data mover entry', () => {
  it('loads no AWS SDK as it starts (only for an S3 unit, on use), where the agent entry does', async () => {
    const mover = [...(await packagesLoadedAtStart('edge-agent/transport/mover-main.ts'))];
    const agent = [...(await packagesLoadedAtStart('edge-agent/transport/main.ts'))];
    expect(agent.some((p) => p.startsWith('@aws-sdk/'))).toBe(true);
    expect(mover.filter((p) => p.startsWith('@aws-sdk/') || p.startsWith('@smithy/'))).toEqual([]);
    expect(mover).toContain('tar-stream');
  });

  it('is what `cairn-agent mover` runs: a job file that does not parse ends with 20 on its stdout', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cairn-mover-main-'));
    try {
      const job = path.join(dir, 'job.json');
      writeFileSync(job, '{"map": 7}');
      const ran = await run(process.execPath, [path.join(REPO, 'bin/cairn-agent.js'), 'mover', '--job', job], { env: { ...process.env, CAIRN_FROM_SOURCE: '1' } }).catch((error: { stdout: string; code: number }) => error);
      expect(ran).toMatchObject({ code: 1 });
      expect(JSON.parse(ran.stdout.trim())).toMatchObject({ statusCode: 20, message: expect.stringMatching(/^mover job .*job\.json: /) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
