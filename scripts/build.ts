// `npm run build` (also run by `prepare`, so `npm ci` builds): the two
// programs as ESM bundles in dist/, which bin/cairn.js and bin/cairn-agent.js
// run when dist/build-manifest.json says they match the sources.
//
// Why esbuild bundles and not `tsc` emit: one bundle per program (with shared
// chunks for what a command loads on use) resolves the `#core/*` imports and
// `.ts` specifiers at build time, so nothing is rewritten and Node resolves
// no package `imports` map at start-up; tsc would keep `.ts` in specifiers
// (rewriteRelativeImportExtensions needs TypeScript 5.7+ and leaves `#core/*`
// pointing at .ts files) and emits ~130 files Node then loads one by one.
// esbuild builds the whole tree in well under a second, offline.
//
// Packages stay external (better-sqlite3 is native; the others are resolved
// from node_modules as before). The bundle's files all sit in dist/, one
// folder below the root like every source folder, so a module that finds a
// file relative to itself (`new URL('../package.json', import.meta.url)`,
// local/asl-definition.ts's statemachines/backup-job.asl.json) finds the
// same file from dist/; the build refuses a module that does so from deeper.
//
// The agent also ships as ONE self-contained file, dist/cairn-agent.mjs
// (buildAgentBundle below): what the stack publishes as an asset and the SSM
// document runs on a host that has Node and nothing else.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { MANIFEST_FORMAT, MANIFEST_NAME, fingerprint } from '../bin/launch.js';
import { PAGE_CSS, bundlePage } from '../cli/monitor/page-assets.ts';

export interface BuildOptions {
  /** The package root: package.json and the sources. */
  root: string;
  /** Bundle name (without .js) → entry module, relative to root. */
  entryPoints: Record<string, string>;
  /** Where the bundles go; default root/dist. Must be one folder below root (see above). */
  outdir?: string;
  /** Also write the self-contained agent, AGENT_BUNDLE_NAME (`npm run build` does). */
  agentBundle?: boolean;
  /** Also bundle the activity monitor's page into monitor/ (`npm run build` does; cli/monitor/page-assets.ts serves it). */
  monitorPage?: boolean;
}

/** `cairn-mover` is `cairn-agent mover` (bin/cairn-agent.js picks it): the offhost data mover without the rest of the agent. */
export const PROGRAMS: Record<string, string> = { cairn: 'cli/main.ts', 'cairn-agent': 'edge-agent/transport/main.ts', 'cairn-mover': 'edge-agent/transport/mover-main.ts' };

/**
 * Packages bundled rather than loaded from node_modules: zod is pure ESM and
 * ships as ~100 small modules, whose loading was a third of `cairn images`'
 * start-up; bundled, it is parsed as part of one chunk. Everything else stays
 * external: native (better-sqlite3), CommonJS (which an ESM bundle cannot
 * `require` Node built-ins from), or only loaded by a command that needs it.
 */
const BUNDLED_PACKAGES = new Set(['zod', 'aws-local-stepfunctions']);

/**
 * aws-local-stepfunctions is bundled (with its small ESM dependencies) so
 * that three of its imports can be replaced by stand-ins that throw if ever
 * called: the standalone engine never invokes Lambda nor validates at run
 * time, and loading them (the Lambda client and credential providers of the
 * AWS SDK, asl-validator with ajv) was about 0.17 s of every `cairn backup`.
 * See scripts/interpreter-stubs.js.
 */
const INTERPRETER_STUBS = /^(@aws-sdk\/client-lambda|@aws-sdk\/credential-providers|asl-validator)$/;
/**
 * zod re-exports every one of its ~50 locales (`z.locales`), which keeps
 * them all in the bundle: 375 KB of the 753 KB zod chunk that every command
 * parses at start-up. Cairn's messages are English (zod configures `en`
 * itself, from its own import), so `z.locales` keeps `en` only.
 */
const zodLocalesEnglishOnly: esbuild.Plugin = {
  name: 'zod-locales-en',
  setup(plugin) {
    plugin.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-locales-en' } : undefined,
    );
    plugin.onLoad({ filter: /.*/, namespace: 'zod-locales-en' }, (args) => ({ contents: 'export { default as en } from "./en.js";\n', resolveDir: dirname(args.path), loader: 'js' }));
  },
};

function interpreterStubs(root: string): esbuild.Plugin {
  const stubs = join(root, 'scripts', 'interpreter-stubs.js');
  return {
    name: 'interpreter-stubs',
    setup(plugin) {
      plugin.onResolve({ filter: INTERPRETER_STUBS }, (args) => (/[\\/]node_modules[\\/]aws-local-stepfunctions[\\/]/.test(args.importer) ? { path: stubs } : undefined));
    },
  };
}

/** Every dependency but the bundled ones, with its subpaths (`@aws-sdk/lib-dynamodb`, `zod/v4`). */
function externals(root: string): string[] {
  const { dependencies = {}, devDependencies = {} } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  return [...Object.keys(dependencies), ...Object.keys(devDependencies)].filter((name) => !BUNDLED_PACKAGES.has(name)).flatMap((name) => [name, `${name}/*`]);
}

/** The self-contained agent's file name (in dist/, and on the host under the SSM document's directory). */
export const AGENT_BUNDLE_NAME = 'cairn-agent.mjs';

/**
 * Native addons the agent bundle cannot inline. zstd-napi is loaded on first
 * use only (edge-agent/codec/zstd-binding.ts: a host without it runs every
 * uncompressed storage unit and gets status 219 naming the package for a
 * compressed one). better-sqlite3 is the standalone runtime's and must never
 * reach the agent: the build fails if anything in its graph imports it.
 */
const AGENT_EXTERNALS = ['zstd-napi', 'zstd-napi/*'];
const AGENT_FORBIDDEN = /(^|[\\/])node_modules[\\/](better-sqlite3|tsx|aws-cdk-lib|aws-local-stepfunctions)[\\/]/;

/**
 * The edge agent as one ESM file with every JavaScript dependency inlined
 * (AWS SDK, commander, zod, tar-stream, ...): no splitting, no node_modules,
 * no source map file (stack traces name the bundled functions, which keepNames
 * preserves, and the code is not minified). `node cairn-agent.mjs --help` works from any
 * directory. The banner gives the inlined CommonJS packages (the AWS SDK) a
 * real `require` for Node built-ins, which ESM lacks.
 */
const AGENT_BUNDLE_ENTRY = `const { main } = process.argv[2] === 'mover' ? await import('./edge-agent/transport/mover-main.ts') : await import('./edge-agent/transport/main.ts');
await main(process.argv);
`;

export async function buildAgentBundle(root: string, outfile: string): Promise<void> {
  const result = await esbuild.build({
    absWorkingDir: root,
    // The entry runs the agent's main, or the data mover's for `mover`, as bin/cairn-agent.js does for the dist/ build. Both
    // imported dynamically: esbuild then wraps each module to run on first import, so the mover's process runs the
    // modules it needs and not the rest (the AWS SDK's above all), though the one file is still read whole.
    stdin: { contents: AGENT_BUNDLE_ENTRY, resolveDir: root, sourcefile: 'cairn-agent-entry.ts', loader: 'ts' },
    outfile,
    bundle: true,
    splitting: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: AGENT_EXTERNALS,
    keepNames: true,
    // Not minified: the reader thread runs `readerThreadMain.toString()` with a `__name` helper of its own
    // (edge-agent/reader/reader-thread.ts), which renamed identifiers would break.
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cairnCreateRequire } from 'node:module'; const require = __cairnCreateRequire(import.meta.url);" },
    plugins: [zodLocalesEnglishOnly],
  });
  const forbidden = Object.keys(result.metafile.inputs).filter((input) => AGENT_FORBIDDEN.test(input));
  if (forbidden.length > 0) throw new Error(`build: the agent bundle must not contain ${forbidden.slice(0, 3).join(', ')}: something in edge-agent imports the standalone runtime or a devDependency`);
}

/** Files outside the bundle's inputs whose change changes the bundle. */
const CONFIG_FILES = ['package.json', 'tsconfig.json', 'scripts/build.ts'];

/**
 * Builds the bundles into a fresh directory and swaps it in whole, so a
 * program started during a build sees the old build or none (and then runs
 * the sources), never half of one. Returns the manifest's input list.
 */
export async function build(options: BuildOptions): Promise<string[]> {
  const root = options.root;
  const outdir = options.outdir ?? join(root, 'dist');
  if (dirname(outdir) !== root.replace(/\/$/, '')) throw new Error(`build: ${outdir} must be one folder below ${root}`);
  const staging = `${outdir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  let inputs: string[];
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: options.entryPoints,
      outdir: staging,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: externals(root),
      // Error classes and anything that prints a constructor's name keep the names they have in the sources.
      keepNames: true,
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'warning',
      plugins: [interpreterStubs(root), zodLocalesEnglishOnly],
    });
    // Virtual modules (`namespace:path`, made by the plugins above) are no files: the plugin's code is in build.ts, a config file.
    const files = Object.keys(result.metafile.inputs).filter((input) => !/^[\w-]+:/.test(input));
    inputs = [...new Set([...files, ...CONFIG_FILES])].sort();
    for (const file of inputs) {
      if (file.split('/').length !== 2 && file.endsWith('.ts') && readFileSync(join(root, file), 'utf8').includes('import.meta.url')) {
        throw new Error(`build: ${file} resolves a path from import.meta.url but is not one folder below the root, so it would not find it from dist/`);
      }
    }
    if (options.agentBundle) await buildAgentBundle(root, join(staging, AGENT_BUNDLE_NAME));
    if (options.monitorPage) {
      // The page's sources join the manifest's inputs: an edited page makes the build stale like an edited command.
      const page = await bundlePage(root);
      mkdirSync(join(staging, 'monitor'));
      writeFileSync(join(staging, 'monitor', 'monitor.js'), page.js);
      copyFileSync(join(root, PAGE_CSS), join(staging, 'monitor', 'monitor.css'));
      inputs = [...new Set([...inputs, ...page.inputs.filter((file) => !file.startsWith('node_modules/')), PAGE_CSS])].sort();
    }
    // The manifest is written last: a staging directory without one is never taken for a build.
    const manifest = { format: MANIFEST_FORMAT, inputs: Object.fromEntries(inputs.map((file) => [file, fingerprint(join(root, file))])) };
    writeFileSync(join(staging, MANIFEST_NAME), `${JSON.stringify(manifest, null, 1)}\n`);
  } catch (error) {
    // A failed build leaves no staging directory behind.
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const old = `${outdir}.old-${process.pid}`;
  mkdirSync(outdir, { recursive: true });
  renameSync(outdir, old);
  renameSync(staging, outdir);
  rmSync(old, { recursive: true, force: true });
  return inputs;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  // `build.ts --agent-bundle FILE`: only the agent bundle, where the CDK app asks for it (cdk/constructs/agent-bundle.ts).
  const agentOnly = process.argv.indexOf('--agent-bundle');
  if (agentOnly >= 0) {
    const outfile = process.argv[agentOnly + 1];
    if (!outfile) throw new Error('build: --agent-bundle needs a file name');
    await buildAgentBundle(root, outfile);
    process.exit(0);
  }
  const started = performance.now();
  const inputs = await build({ root, entryPoints: PROGRAMS, agentBundle: true, monitorPage: true });
  console.log(`built ${[...Object.keys(PROGRAMS).map((p) => `dist/${p}.js`), `dist/${AGENT_BUNDLE_NAME}`, 'dist/monitor/'].join(', ')} from ${inputs.length} files in ${Math.round(performance.now() - started)} ms`);
}
