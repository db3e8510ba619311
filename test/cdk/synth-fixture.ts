import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, type AppProps, type Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CairnStack, REPO_ROOT, type CairnStackProps } from '../../cdk/cairn-stack.ts';
import type { ObjectLockSettings } from '../../cdk/constructs/image-store.ts';

export const LAMBDA_ENTRIES = ['lambdas/jobs.ts', 'lambdas/broker.ts', 'lambdas/catalog.ts', 'lambdas/scheduler.ts', 'lambdas/agent-grants.ts', 'lambdas/janitor.ts', 'lambdas/report.ts', 'lambdas/verify.ts', 'lambdas/duplicate.ts'] as const;
export const BACKUP_JOB_ASL = 'statemachines/backup-job.asl.json';

/**
 * Stands in for statemachines/backup-job.asl.json while it is not written yet:
 * every placeholder, every Task with TimeoutSeconds. Lives only in a temp dir.
 */
const MINIMAL_ASL = {
  StartAt: 'Queue',
  States: {
    Queue: { Type: 'Task', Resource: '${JobsFunctionArn}', TimeoutSeconds: 60, Next: 'Reserve' },
    Reserve: { Type: 'Task', Resource: '${BrokerFunctionArn}', TimeoutSeconds: 60, Next: 'Stream' },
    Stream: {
      Type: 'Task',
      Resource: '${SendCommandTaskResource}',
      Parameters: { DocumentName: '${AgentDocumentName}', 'InstanceIds.$': '$.instanceIds', Parameters: { 'taskToken.$': 'States.Array($$.Task.Token)' } },
      TimeoutSeconds: 3600,
      HeartbeatSeconds: 600,
      Next: 'Catalog',
    },
    Catalog: { Type: 'Task', Resource: '${CatalogFunctionArn}', TimeoutSeconds: 60, End: true },
  },
};

export interface SynthResult {
  readonly template: Template;
  /** The stack itself, for checks on the construct tree (cdk-nag, tags). */
  readonly stack: CairnStack;
  /** The synthesized template as written to the cloud assembly (what cdk deploy would upload). */
  readonly templatePath: string;
  readonly assemblyDir: string;
  /** Why Lambda bundling was skipped, or undefined when the real handlers were bundled. */
  readonly bundlingSkipped?: string;
  /** Why the real ASL file was replaced by the minimal one, or undefined. */
  readonly aslReplaced?: string;
  /** Removes the temp directories (assembly, stubs). */
  readonly cleanup: () => void;
}

/** cdk.json's context (feature flags), so tests synthesize what `npx cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

function tempDir(prefix: string, created: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/**
 * A project root with empty handler files, for when the real ones are missing:
 * NodejsFunction insists that the entry and the lock file exist even when it
 * does not bundle.
 */
function stubProject(created: string[]): string {
  const dir = tempDir('cairn-cdk-stub-', created);
  fs.copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(REPO_ROOT, 'package-lock.json'), path.join(dir, 'package-lock.json'));
  for (const entry of LAMBDA_ENTRIES) {
    fs.mkdirSync(path.dirname(path.join(dir, entry)), { recursive: true });
    fs.writeFileSync(path.join(dir, entry), 'export const handler = async () => ({});\n');
  }
  return dir;
}

/** One synthesized stack of an app that may hold several (see synthCairnStacks). */
export interface StackSpec {
  readonly stackName: string;
  readonly props?: CairnStackProps;
  /** Adds to the stack before the synth (a test's deliberate flaw, to prove a check bites). */
  readonly extend?: (stack: CairnStack) => void;
}

/**
 * How a test synthesizes. `bundle: false` skips the handlers' esbuild bundling.
 * `validate: false` skips aws-cdk-lib's built-in CloudFormation validation,
 * which `cdk synth` runs on every synth and cdk.json's
 * `@aws-cdk/core:validateAgainstDefaultRules` turns into errors: its rule
 * engine (WebAssembly) costs some 10 s of CPU to start in each test process,
 * then 1-2 s a template. The templates `cdk synth` would deploy are validated
 * where their shape is the subject: deployability.test.ts (four stacks:
 * Object Lock, alarm and report addresses, name prefixes) and its run of
 * cdk/app.ts (the CLI's own path, with every property of the context), in
 * one process, so the engine starts once. A test that synthesizes the same stack to read
 * its policies, alarms, topics or bundles opts out (cairn-stack.test.ts,
 * report.test.ts, ...).
 */
export interface SynthOptions {
  readonly bundle?: boolean;
  /** Default true: run the built-in validation, as `cdk synth` does. */
  readonly validate?: boolean;
}

/** The App props of a test synth: cdk.json's context, and the validation as asked (see SynthOptions). */
export function testAppProps(options: SynthOptions & { outdir?: string; bundlingSkipped?: boolean } = {}): AppProps {
  const context: Record<string, unknown> = { ...cdkJsonContext() };
  if (options.bundlingSkipped) context['aws:cdk:bundling-stacks'] = [];
  return { outdir: options.outdir, context, analyticsReporting: false, builtinCloudFormationValidation: options.validate ?? true };
}

/**
 * One synth of CairnStack into a temp cloud assembly. Bundles the real handlers
 * when they exist (several seconds: share the result across a file's tests);
 * with `bundle: false`, or when a handler is missing, bundling is skipped
 * through the CDK's own `aws:cdk:bundling-stacks` context.
 */
export function synthCairnStack(
  options: SynthOptions & { objectLock?: ObjectLockSettings; schedulerRate?: Duration; props?: CairnStackProps; stackName?: string; extend?: (stack: CairnStack) => void } = {},
): SynthResult {
  const props: CairnStackProps = { objectLock: options.objectLock, schedulerRate: options.schedulerRate, ...options.props };
  const [result] = synthCairnStacks([{ stackName: options.stackName ?? 'CairnStack', props, extend: options.extend }], { bundle: options.bundle, validate: options.validate });
  return result!;
}

/**
 * Several CairnStacks in one app (one account, as far as names go), in one
 * synth. The results share one cleanup: calling any of them removes all.
 */
export function synthCairnStacks(specs: readonly StackSpec[], options: SynthOptions = {}): SynthResult[] {
  const created: string[] = [];
  const missingEntries = LAMBDA_ENTRIES.filter((entry) => !fs.existsSync(path.join(REPO_ROOT, entry)));
  const bundlingSkipped =
    options.bundle === false
      ? 'bundling not requested'
      : missingEntries.length > 0
        ? `handler entries not written yet: ${missingEntries.join(', ')}`
        : undefined;
  const projectRoot = missingEntries.length > 0 ? stubProject(created) : REPO_ROOT;

  let backupJobDefinitionPath = path.join(REPO_ROOT, BACKUP_JOB_ASL);
  let aslReplaced: string | undefined;
  if (!fs.existsSync(backupJobDefinitionPath)) {
    aslReplaced = `${BACKUP_JOB_ASL} not written yet; using a minimal definition`;
    backupJobDefinitionPath = path.join(tempDir('cairn-cdk-asl-', created), 'backup-job.asl.json');
    fs.writeFileSync(backupJobDefinitionPath, JSON.stringify(MINIMAL_ASL, null, 2));
  }

  const cleanup = () => created.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }));
  const assemblyDir = tempDir('cairn-cdk-out-', created);
  const app = new App(testAppProps({ outdir: assemblyDir, bundlingSkipped: bundlingSkipped !== undefined, validate: options.validate }));
  let stacks: CairnStack[];
  let assembly: ReturnType<App['synth']>;
  try {
    stacks = specs.map((spec) => {
      const stack = new CairnStack(app, spec.stackName, { projectRoot, backupJobDefinitionPath, ...spec.props });
      spec.extend?.(stack);
      return stack;
    });
    assembly = app.synth();
  } catch (error) {
    // A stack its props refuse (a test expecting the throw) leaves no temp directory behind.
    cleanup();
    throw error;
  }
  return stacks.map((stack) => ({
    template: Template.fromStack(stack),
    stack,
    templatePath: assembly.getStackByName(stack.stackName).templateFullPath,
    assemblyDir,
    bundlingSkipped,
    aslReplaced,
    cleanup,
  }));
}
