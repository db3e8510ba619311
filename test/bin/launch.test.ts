import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildState } from '../../bin/launch.js';
import { build } from '../../scripts/build.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A package laid out like this one (bin/ with the real launcher, a source
 * entry, dist/ built by the real build), whose program says whether it ran
 * from dist/ or from the sources, and which version of the source it is.
 */
let root: string;
const source = (version: string): string => `export function main(): void {\n  console.log(\`\${import.meta.url.includes('/dist/') ? 'dist' : 'src'} ${version}\`);\n}\n`;
const writeSource = (version: string): void => writeFileSync(join(root, 'src', 'main.ts'), source(version));
const hello = async (env: NodeJS.ProcessEnv = {}): Promise<string> => (await run(process.execPath, [join(root, 'bin', 'hello.js')], { env: { ...process.env, CAIRN_FROM_SOURCE: '', ...env } })).stdout.trim();

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cairn-launch-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(repo, 'bin', 'launch.js'), join(root, 'bin', 'launch.js'));
  writeFileSync(join(root, 'bin', 'hello.js'), "import { load } from './launch.js';\nconst { main } = await load(import.meta.url, 'hello.js', () => import('../src/main.ts'));\nmain();\n");
  writeFileSync(join(root, 'package.json'), '{ "name": "hello", "type": "module" }\n');
  writeFileSync(join(root, 'tsconfig.json'), '{}\n');
  writeFileSync(join(root, 'scripts', 'build.ts'), '// stands for the build configuration\n');
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  writeSource('v1');
  await build({ root, entryPoints: { hello: 'src/main.ts' } });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('bin/ runs the compiled bundle only when it was built from the current sources', () => {
  it('runs dist/ when it is up to date', async () => {
    expect(buildState(root)).toEqual({ fresh: true });
    expect(await hello()).toBe('dist v1');
  });

  it('runs the sources through tsx when CAIRN_FROM_SOURCE=1', async () => {
    expect(await hello({ CAIRN_FROM_SOURCE: '1' })).toBe('src v1');
  });

  it('still runs dist/ when a source was only touched (a checkout): its content is what counts', async () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'src', 'main.ts'), later, later);
    expect(buildState(root)).toEqual({ fresh: true });
    expect(await hello()).toBe('dist v1');
  });

  it('never runs a stale bundle: a source edited to the same size runs from the sources', async () => {
    writeSource('v2');
    expect(buildState(root)).toEqual({ fresh: false, reason: 'src/main.ts changed since the build' });
    expect(await hello()).toBe('src v2');
  });

  it('never runs a stale bundle after a configuration change, nor a build without its manifest', async () => {
    await build({ root, entryPoints: { hello: 'src/main.ts' } });
    expect(await hello()).toBe('dist v2');
    writeFileSync(join(root, 'package.json'), '{ "name": "hello", "type": "module", "imports": {} }\n');
    expect(buildState(root)).toMatchObject({ fresh: false, reason: 'package.json changed since the build' });
    await build({ root, entryPoints: { hello: 'src/main.ts' } });
    rmSync(join(root, 'dist', 'build-manifest.json'));
    expect(buildState(root)).toMatchObject({ fresh: false });
    expect(await hello()).toBe('src v2');
  });

  it('never runs a bundle one of whose sources is gone', async () => {
    await build({ root, entryPoints: { hello: 'src/main.ts' } });
    rmSync(join(root, 'tsconfig.json'));
    expect(buildState(root)).toMatchObject({ fresh: false, reason: 'tsconfig.json changed since the build' });
    expect(await hello()).toBe('src v2');
  });
});
