import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The boundary rules bite: each probe is a small file placed in the tree where
 * a forbidden import would start, run through the real rule sets
 * (.dependency-cruiser.js for imports, eslint.config.js for core/'s code), and
 * must be reported by the rule named. Probes are always removed. A few
 * allowed imports are probed too, so a rule that forbids everything fails here.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const tag = `boundary-probe-${process.pid}`;

interface ImportProbe {
  name: string;
  /** Where the probe file goes, under its folder: `core/…`, `edge-agent/transport/…`. */
  file: string;
  source: string;
  /** The rule that must report the probe; undefined: the import is allowed and nothing may be reported. */
  rule: string | undefined;
}

const probe = (name: string, dir: string, source: string, rule: string | undefined): ImportProbe => ({
  name,
  file: `${dir}/${tag}-${name.replace(/[^a-z0-9]+/gi, '-')}.ts`,
  source,
  rule,
});

const importProbes: ImportProbe[] = [
  probe('core → local', 'core', "import { openLocalRuntime } from '#local/runtime.ts';\nexport const x = openLocalRuntime;\n", 'core-imports-only-core'),
  probe('core → local by relative path', 'core', "import { SqliteJobStore } from '../local/sqlite-job-store.ts';\nexport const x = SqliteJobStore;\n", 'core-imports-only-core'),
  probe('core → aws', 'core', "import { tableNames } from '#aws/tables.ts';\nexport const x = tableNames;\n", 'core-imports-only-core'),
  probe('core → edge-agent', 'core', "import { excludeMatcher } from '#agent/reader/exclude.ts';\nexport const x = excludeMatcher;\n", 'core-imports-only-core'),
  probe('core → lambdas', 'core', "import { systemClock } from '#lambdas/system-clock.ts';\nexport const x = systemClock;\n", 'core-imports-only-core'),
  probe('core → node:fs', 'core', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'core-no-io-modules'),
  probe('core → fs/promises', 'core', "import { readFile } from 'fs/promises';\nexport const x = readFile;\n", 'core-no-io-modules'),
  probe('core → child_process', 'core', "import { spawn } from 'child_process';\nexport const x = spawn;\n", 'core-no-io-modules'),
  probe('core → node:os', 'core', "import os from 'node:os';\nexport const x = os.hostname;\n", 'core-no-io-modules'),
  probe('core → node:crypto', 'core', "import { randomUUID } from 'node:crypto';\nexport const x = randomUUID;\n", 'core-no-io-modules'),
  probe('core → better-sqlite3', 'core', "import Database from 'better-sqlite3';\nexport const x = Database;\n", 'core-no-io-packages'),
  probe('core → the AWS SDK', 'core', "import { S3Client } from '@aws-sdk/client-s3';\nexport const x = S3Client;\n", 'core-no-io-packages'),
  probe('core → unresolvable', 'core', "import { x as y } from '#core/no-such-module.ts';\nexport const x = y;\n", 'not-to-unresolvable'),
  probe('edge-agent → aws', 'edge-agent/transport', "import { createAwsClients } from '#aws/clients.ts';\nexport const x = createAwsClients;\n", 'agent-depends-on-ports'),
  probe('edge-agent → aws by import()', 'edge-agent/image', "export const x = () => import('#aws/s3-object-store.ts');\n", 'agent-depends-on-ports'),
  probe('edge-agent → local', 'edge-agent/reader', "import { SqliteJobStore } from '#local/sqlite-job-store.ts';\nexport const x = SqliteJobStore;\n", 'agent-depends-on-ports'),
  probe('edge-agent → the AWS SDK', 'edge-agent/transport', "import { SFNClient } from '@aws-sdk/client-sfn';\nexport const x = SFNClient;\n", 'only-aws-imports-the-sdk'),
  probe('cli → the AWS SDK', 'cli', "import { CloudFormationClient } from '@aws-sdk/client-cloudformation';\nexport const x = CloudFormationClient;\n", 'only-aws-imports-the-sdk'),
  probe('lambdas → the AWS SDK', 'lambdas', "import type { SFNClient } from '@aws-sdk/client-sfn';\nexport type X = SFNClient;\n", 'only-aws-imports-the-sdk'),
  probe('cli → cdk', 'cli', "import { CairnStack } from '../cdk/cairn-stack.ts';\nexport const x = CairnStack;\n", 'cli-does-not-import-cdk'),
  probe('lambdas → local', 'lambdas', "import { runBackupJob } from '#local/job-engine.ts';\nexport const x = runBackupJob;\n", 'lambdas-import-core-aws-and-themselves'),
  probe('lambdas → edge-agent', 'lambdas', "import { runBackup } from '#agent/image/backup.ts';\nexport const x = runBackup;\n", 'lambdas-import-core-aws-and-themselves'),
  {
    name: 'a lambda handler factory → aws',
    file: `lambdas/${tag}-handler.ts`,
    source: "import { DynamoJobStore } from '#aws/dynamo-job-store.ts';\nexport const x = DynamoJobStore;\n",
    rule: 'lambda-handlers-take-their-adapters',
  },
  probe('lambdas → Powertools outside observability.ts', 'lambdas', "import { Logger } from '@aws-lambda-powertools/logger';\nexport const x = Logger;\n", 'powertools-only-in-lambda-observability'),
  probe('local → Powertools through lambdas/', 'local', "import { lambdaObservability } from '#lambdas/observability.ts';\nexport const x = lambdaObservability;\n", 'local-and-cli-never-reach-powertools'),
  probe('cli → Powertools through lambdas/', 'cli', "import { observedLambda } from '#lambdas/observability.ts';\nexport const x = observedLambda;\n", 'local-and-cli-never-reach-powertools'),
  probe('aws → local', 'aws', "import { SqliteJobStore } from '#local/sqlite-job-store.ts';\nexport const x = SqliteJobStore;\n", 'aws-imports-core-and-itself'),
  probe('local → aws', 'local', "import { createAwsClients } from '#aws/clients.ts';\nexport const x = createAwsClients;\n", 'local-reaches-aws-only-through-the-opener'),
  probe('local → cli', 'local', "import { main } from '#cli/main.ts';\nexport const x = main;\n", 'local-imports-core-lambdas-agent-and-itself'),
  probe('local → aws-cdk-lib', 'local', "import { App } from 'aws-cdk-lib';\nexport const x = App;\n", 'only-cdk-imports-the-cdk'),
  probe('cdk → core', 'cdk', "import { StatusCode } from '#core/status-codes.ts';\nexport const x = StatusCode;\n", 'cdk-imports-itself-and-table-descriptions'),
  probe('cdk → aws adapters', 'cdk', "import { createAwsClients } from '#aws/clients.ts';\nexport const x = createAwsClients;\n", 'cdk-imports-itself-and-table-descriptions'),
  probe('lambdas → test fixtures', 'lambdas', "import { sampleJob } from '#test/contracts/fixtures.ts';\nexport const x = sampleJob;\n", 'production-code-does-not-import-tests-or-tools'),
  probe('cdk → statemachines by import', 'cdk', "import definition from '../statemachines/backup-job.asl.json' with { type: 'json' };\nexport const x = definition;\n", 'statemachines-are-read-not-imported'),
  // Allowed directions: each must pass, or the rules forbid more than they say.
  probe('edge-agent → core (allowed)', 'edge-agent/image', "import { imageKeys } from '#core/ids.ts';\nexport const x = imageKeys;\n", undefined),
  probe('local → the handler kit (allowed: no Powertools behind it)', 'local', "import { taskHandler } from '#lambdas/handler-kit.ts';\nexport const x = taskHandler;\n", undefined),
  probe('lambdas → aws (allowed)', 'lambdas', "import { createAwsClients } from '#aws/clients.ts';\nexport const x = createAwsClients;\n", undefined),
  probe('local → edge-agent (allowed)', 'local', "import { runBackup } from '#agent/image/backup.ts';\nexport const x = runBackup;\n", undefined),
  probe('cli → local and aws (allowed)', 'cli', "import { openLocalRuntime } from '#local/runtime.ts';\nimport { createAwsClients } from '#aws/clients.ts';\nexport const x = [openLocalRuntime, createAwsClients];\n", undefined),
  probe('cdk → aws/tables.ts (allowed)', 'cdk', "import { tableNames } from '#aws/tables.ts';\nexport const x = tableNames;\n", undefined),
  probe('core → zod and luxon (allowed)', 'core', "import { z } from 'zod';\nimport { DateTime } from 'luxon';\nexport const x = [z, DateTime];\n", undefined),
];

/** Two files that import each other: the shape of the cli/backend.ts ↔ cli/aws-backend.ts cycle, one side type-only. */
const cycle = {
  a: `cli/${tag}-cycle-a.ts`,
  b: `cli/${tag}-cycle-b.ts`,
};

const written: string[] = [];
function place(file: string, source: string): void {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), source);
  written.push(file);
}

async function cruiseWithProjectRules(files: string[]): Promise<IViolation[]> {
  const options: ICruiseOptions = { ...(await extractDepcruiseOptions(path.join(root, '.dependency-cruiser.js'))), baseDir: root };
  const tsConfig = extractTSConfig(path.join(root, 'tsconfig.json'));
  const result = await cruise(files, options, {}, { tsConfig });
  if (typeof result.output === 'string') throw new Error('dependency-cruiser answered text, not a cruise result');
  return result.output.summary.violations;
}

describe('import boundaries (.dependency-cruiser.js)', () => {
  let violations: IViolation[];
  beforeAll(async () => {
    try {
      for (const p of importProbes) place(p.file, p.source);
      place(cycle.a, `import type { B } from './${path.basename(cycle.b)}';\nexport interface A { b?: B }\n`);
      place(cycle.b, `import type { A } from './${path.basename(cycle.a)}';\nexport interface B { a?: A }\n`);
      violations = await cruiseWithProjectRules(written);
    } finally {
      removeProbes();
    }
  });
  afterAll(removeProbes);

  it.each(importProbes.filter((p) => p.rule !== undefined))('forbids $name', ({ file, rule }) => {
    const found = violations.filter((v) => v.from === file);
    expect(found.map((v) => v.rule.name)).toContain(rule);
  });

  it.each(importProbes.filter((p) => p.rule === undefined))('allows $name', ({ file }) => {
    expect(violations.filter((v) => v.from === file)).toEqual([]);
  });

  it('forbids an import cycle, type-only imports included', () => {
    // A cycle is reported once, from one of its files, with the path around it.
    const found = violations.filter((v) => v.rule.name === 'no-circular').map((v) => [v.from, ...(v.cycle ?? []).map((step) => step.name)]);
    expect(found).toHaveLength(1);
    expect(new Set(found[0])).toEqual(new Set([cycle.a, cycle.b]));
  });

  it('finds no violation in the tree as it is', async () => {
    const tree = await cruiseWithProjectRules(['core', 'aws', 'local', 'lambdas', 'edge-agent', 'cli', 'cdk', 'bin', 'scripts', 'bench', 'test']);
    expect(tree.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });
});

describe('core/ takes time, randomness and the environment as values (eslint.config.js)', () => {
  const eslint = new ESLint({ cwd: root });
  const lint = async (file: string, code: string): Promise<string[]> => {
    const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
    return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
  };
  const inCore = `core/${tag}.ts`;

  it.each([
    ['process.env', 'export const home = process.env.CAIRN_HOME;\n', 'no-restricted-globals'],
    ['process.exit', 'export const stop = (): never => process.exit(1);\n', 'no-restricted-globals'],
    ['new Date()', 'export const now = (): Date => new Date();\n', 'no-restricted-syntax'],
    ['Date()', 'export const now = (): string => Date();\n', 'no-restricted-syntax'],
    ['Date.now()', 'export const now = (): number => Date.now();\n', 'no-restricted-properties'],
    ['Math.random()', 'export const pick = (): number => Math.random();\n', 'no-restricted-properties'],
    ['crypto.randomUUID()', 'export const id = (): string => crypto.randomUUID();\n', 'no-restricted-properties'],
    ['crypto.getRandomValues()', 'export const bytes = (): Uint8Array => crypto.getRandomValues(new Uint8Array(4));\n', 'no-restricted-properties'],
    ['performance.now()', 'export const t = (): number => performance.now();\n', 'no-restricted-globals'],
  ])('forbids %s in core/', async (_what, code, rule) => {
    const messages = await lint(inCore, code);
    expect(messages.some((m) => m.startsWith(`${rule}: `) && m.includes('core/ takes time, randomness and the environment as values'))).toBe(true);
  });

  it('allows new Date(x): parsing and constructing read no clock', async () => {
    expect(await lint(inCore, "export const at = (iso: string): Date => new Date(iso);\nexport const epoch = new Date(0);\n")).toEqual([]);
  });

  it('leaves the wall clock to the folders outside core/', async () => {
    expect(await lint(`local/${tag}.ts`, 'export const now = (): Date => new Date();\nexport const home = process.env.CAIRN_HOME;\n')).toEqual([]);
  });

  it('finds no violation in core/ as it is', async () => {
    const results = await eslint.lintFiles(['core']);
    expect(results.flatMap((r) => r.messages.map((m) => `${path.relative(root, r.filePath)}:${m.line} ${m.ruleId}: ${m.message}`))).toEqual([]);
  });
});

function removeProbes(): void {
  for (const file of written.splice(0)) rmSync(path.join(root, file), { force: true });
}
