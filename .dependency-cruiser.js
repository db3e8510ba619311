// Who may import whom in Cairn: the dependency rules, stated once, here.
//
// Why dependency-cruiser (and not only ESLint): these rules are about the
// resolved import graph. It resolves `#core/...` subpath imports, `../..`
// paths and dynamic `import()` to the file they reach, tells Node built-ins
// from npm packages from our own files, and finds cycles across the whole
// tree in one pass; per-file ESLint rules see only the import string. What is
// about code rather than imports (core reading process.env, the wall clock,
// randomness) is checked by ESLint: see eslint.config.js. `npm run lint` runs
// both; test/boundaries/ feeds each rule a probe that must fail.
//
// Paths are relative to the repository root. Rule names and comments are what
// a violation prints, so each says what to do instead.

/** Our top-level folders of production code; test/, bench/ and scripts/ may import any of them. */
const OURS = '^(core|aws|local|lambdas|edge-agent|cli|cdk|bin|statemachines)/';

/** Node built-ins that do I/O, spawn, talk to the network or expose the process: never in core/. */
const NODE_IO = '^(node:)?(fs|fs/promises|child_process|os|net|http|https|http2|worker_threads|process|cluster|dgram|dns|tls|readline|inspector|perf_hooks|crypto)$';

/** Packages that reach AWS, a database, the CDK, an interpreter or a command line: never in core/. */
const IO_PACKAGES = '(^|/)node_modules/(@aws-sdk/|@smithy/|aws-cdk-lib/|constructs/|better-sqlite3/|aws-local-stepfunctions/|@middy/|commander/)';

/** The cairn-agent composition roots (the agent, and its data mover's light entry): the edge-agent files that build adapters and hand them to the agent. */
const AGENT_ENTRY = '^edge-agent/transport/(main|mover-main)\\.ts$';

/**
 * The catalog-job Lambda's composition root: a catalog backup writes its image with the agent's image
 * writer and the catalog check reads each copy's manifest with the agent's reader, so this one entry
 * file may import edge-agent/catalog/ (and nothing else of edge-agent/) and hand them to its handler.
 */
const CATALOG_JOB_ENTRY = '^lambdas/catalog-job\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles: split out the shared part (an interface, a type) into a file both import.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve to a file or an installed package: a typo, or a missing dependency.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'core-imports-only-core',
      comment: 'core/ is the pure domain: it imports nothing of ours outside core/. Define a port in core/ports/ and let the caller pass the adapter.',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: OURS, pathNot: '^core/' },
    },
    {
      name: 'core-no-io-modules',
      comment: 'core/ does no I/O and reads no process, clock or randomness: no fs, child_process, os, net, http(s), worker_threads, process, crypto. Take the value or a port as a parameter.',
      severity: 'error',
      from: { path: '^core/' },
      to: { dependencyTypes: ['core'], path: NODE_IO },
    },
    {
      name: 'core-no-io-packages',
      comment: 'core/ imports no AWS SDK, CDK, SQLite, workflow interpreter, middleware or CLI package: those are adapters and entry points.',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: IO_PACKAGES },
    },
    {
      name: 'only-aws-imports-the-sdk',
      comment: 'aws/ is the only importer of @aws-sdk/* (tests, bench/ and scripts/ may use it too). Put the SDK call in an aws/ adapter and wire it from the entry point.',
      severity: 'error',
      from: { pathNot: '^(aws|test|bench|scripts)/' },
      to: { path: '(^|/)node_modules/(@aws-sdk|@smithy)/' },
    },
    {
      name: 'only-cdk-imports-the-cdk',
      comment: 'aws-cdk-lib and constructs are for the CDK app in cdk/ (and its tests) only.',
      severity: 'error',
      from: { pathNot: '^(cdk|test)/' },
      to: { path: '(^|/)node_modules/(aws-cdk-lib|constructs)/' },
    },
    {
      name: 'aws-imports-core-and-itself',
      comment: 'aws/ holds adapters for AWS: it imports core/ (the ports it implements) and its own files, nothing else of ours.',
      severity: 'error',
      from: { path: '^aws/' },
      to: { path: OURS, pathNot: '^(core|aws)/' },
    },
    {
      name: 'agent-depends-on-ports',
      comment:
        'edge-agent/ imports core/ and its own files; it gets its adapters (object stores, the job store, the task token) as parameters from its entry point, edge-agent/transport/main.ts, or from the runtime that calls it in-process.',
      severity: 'error',
      from: { path: '^edge-agent/', pathNot: AGENT_ENTRY },
      to: { path: OURS, pathNot: '^(core|edge-agent)/' },
    },
    {
      name: 'agent-entry-wires-adapters-only',
      comment: 'The cairn-agent entry (edge-agent/transport/main.ts) may import aws/ adapters (it builds the S3 stores, the job store and the task token); no local/, lambdas/, cli/ or cdk/: every arrow from the agent points down.',
      severity: 'error',
      from: { path: AGENT_ENTRY },
      to: { path: OURS, pathNot: '^(core|edge-agent|aws)/' },
    },
    {
      name: 'lambdas-import-core-aws-and-themselves',
      comment: 'lambdas/ holds the handlers (shared with the standalone runtime) and their DynamoDB wiring: it imports core/, aws/ and its own files, never local/, edge-agent/, cli/ or cdk/.',
      severity: 'error',
      from: { path: '^lambdas/', pathNot: CATALOG_JOB_ENTRY },
      to: { path: OURS, pathNot: '^(core|aws|lambdas)/' },
    },
    {
      name: 'catalog-job-entry-composes-the-catalog-image',
      comment:
        'lambdas/catalog-job.ts may import edge-agent/catalog/ besides core/, aws/ and lambdas/: the catalog image writer and the copy check run in the catalog-job Lambda (a Lambda has no agent to send them to), and the entry hands them to its handler as ports. No other edge-agent/ folder, and no local/, cli/ or cdk/.',
      severity: 'error',
      from: { path: CATALOG_JOB_ENTRY },
      to: { path: OURS, pathNot: '^(core|aws|lambdas|edge-agent/catalog)/' },
    },
    {
      name: 'lambda-handlers-take-their-adapters',
      comment: 'A *-handler.ts factory takes its stores and clients as arguments; only the entry files (jobs.ts, scheduler.ts, dynamo-deps.ts, ...) import aws/. So tests and the standalone runtime run the same handler without AWS.',
      severity: 'error',
      from: { path: '^lambdas/.+-handler\\.ts$' },
      to: { path: '^aws/' },
    },
    {
      name: 'powertools-only-in-lambda-observability',
      comment:
        'Powertools for AWS Lambda is imported by lambdas/observability.ts alone, which the Lambda entry files wire; handlers take a HandlerObservability (lambdas/handler-kit.ts) instead, so the runtimes that share them do not load it.',
      severity: 'error',
      from: { pathNot: '^(lambdas/observability\\.ts|test/)' },
      to: { path: '(^|/)node_modules/@aws-lambda-powertools/' },
    },
    {
      name: 'local-and-cli-never-reach-powertools',
      comment:
        'The standalone runtime, the CLI and the agent never load Powertools, not even through a lambdas/ file they import: pass a HandlerObservability (or none) instead of importing lambdas/observability.ts.',
      severity: 'error',
      from: { path: '^(local|cli|edge-agent|bin)/' },
      to: { path: '(^|/)node_modules/@aws-lambda-powertools/', reachable: true },
    },
    {
      name: 'local-imports-core-lambdas-agent-and-itself',
      comment: 'local/ (the standalone runtime) imports core/, lambdas/ (the same handlers), edge-agent/ (the in-process agent) and its own files; never cli/ or cdk/.',
      severity: 'error',
      from: { path: '^local/' },
      to: { path: OURS, pathNot: '^(core|lambdas|edge-agent|local|aws)/' },
    },
    {
      name: 'local-reaches-aws-only-through-the-opener',
      comment: 'local/ does not import aws/: the one exception is local/open-storage-unit.ts loading the S3 adapter for an S3 storage unit.',
      severity: 'error',
      from: { path: '^local/', pathNot: '^local/open-storage-unit\\.ts$' },
      to: { path: '^aws/' },
    },
    {
      name: 'opener-loads-only-the-s3-adapter',
      comment: 'local/open-storage-unit.ts may reach aws/s3-object-store.ts only (the adapter of S3 storage units).',
      severity: 'error',
      from: { path: '^local/open-storage-unit\\.ts$' },
      to: { path: '^aws/', pathNot: '^aws/s3-object-store\\.ts$' },
    },
    {
      name: 'opener-loads-the-s3-adapter-lazily',
      comment: 'local/open-storage-unit.ts loads aws/s3-object-store.ts by dynamic import(), so a runtime or agent that writes to disk starts without the AWS SDK.',
      severity: 'error',
      from: { path: '^local/open-storage-unit\\.ts$' },
      to: { path: '^aws/', dynamic: false },
    },
    {
      name: 'cli-does-not-import-cdk',
      comment: 'cli/ wires any runtime (standalone or deployed) but never imports the CDK app; deployment stays `cdk deploy`.',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^cdk/' },
    },
    {
      name: 'cdk-imports-itself-and-table-descriptions',
      comment: 'cdk/ imports its own files and aws/tables.ts (the table names and keys it creates and the adapters read); it reads statemachines/*.asl.json from disk, not by import.',
      severity: 'error',
      from: { path: '^cdk/' },
      to: { path: OURS, pathNot: '^(cdk/|aws/tables\\.ts$)' },
    },
    {
      name: 'bin-starts-entry-points-only',
      comment: 'bin/ starts the programs, cli/main.ts, edge-agent/transport/main.ts and its mover entry mover-main.ts (through their launcher, bin/launch.js), and nothing else of ours.',
      severity: 'error',
      from: { path: '^bin/' },
      to: { path: OURS, pathNot: '^(bin/launch\\.js|cli/main\\.ts|edge-agent/transport/(main|mover-main)\\.ts)$' },
    },
    {
      name: 'statemachines-are-read-not-imported',
      comment: 'statemachines/*.asl.json are read from disk (cdk/, local/asl-definition.ts), so both runtimes run the same file as written; no code imports them.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^statemachines/' },
    },
    {
      name: 'monitor-page-imports-only-types-of-the-server',
      comment: 'cli/monitor/page/ runs in the browser: besides its own files and preact it may import only types (erased by esbuild), such as the server views\' answer shapes, so the page and the server share one definition of each answer and no server code reaches the bundle.',
      severity: 'error',
      from: { path: '^cli/monitor/page/' },
      to: { path: OURS, pathNot: '^cli/monitor/page/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'production-code-does-not-import-tests-or-tools',
      comment: 'Nothing shipped imports test/, bench/ or scripts/: fixtures and tools stay out of the product.',
      severity: 'error',
      from: { path: OURS },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    // node_modules is never cruised itself, only seen as the target of an import (the package rules need that).
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^cdk\\.out/', '^\\.cairn/', '^dist/'] },
    // Type-only imports count: a cycle through types is still a cycle, and a port's type must not come from an adapter.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // `#core/*` and friends resolve through package.json `imports`, as Node resolves them.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
