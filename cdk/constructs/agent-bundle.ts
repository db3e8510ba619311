import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';

/** This repository: the agent is always built from the sources next to the CDK app. */
const SOURCE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One build per synth process: every stack of an app (and every test synth) publishes the same file. */
let built: string | undefined;

/**
 * Builds `cairn-agent.mjs` (scripts/build.ts buildAgentBundle: one file, every
 * JavaScript dependency inlined) into a temp directory and returns its path.
 * A child process, because the build uses esbuild plugins, which only the
 * asynchronous API runs, and construct code is synchronous. It takes about a
 * second, offline, like the Lambdas' local esbuild bundling.
 */
export function buildAgentBundleFile(): string {
  if (built) return built;
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'cairn-agent-bundle-')), 'cairn-agent.mjs');
  execFileSync(process.execPath, ['--import', 'tsx', path.join(SOURCE_ROOT, 'scripts', 'build.ts'), '--agent-bundle', file], { cwd: SOURCE_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  built = file;
  return file;
}

export interface AgentBundleProps {
  /** An already built bundle (tests, a release pipeline); built from the sources when absent. */
  readonly file?: string;
}

/**
 * The edge agent as a file asset: uploaded unchanged (a single file is not
 * zipped) to the CDK assets bucket, fetched by the SSM document onto each host
 * (aws:downloadContent) and checked there against `sha256` before it runs.
 */
export class AgentBundle extends Construct {
  readonly asset: Asset;
  /** sha256 (hex) of the file's bytes, computed here at synth and written into the document. */
  readonly sha256: string;
  /** The file's name on the host: the basename of its S3 key (aws:downloadContent keeps it). */
  readonly fileName: string;

  constructor(scope: Construct, id: string, props: AgentBundleProps = {}) {
    super(scope, id);
    const file = props.file ?? buildAgentBundleFile();
    this.sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    this.asset = new Asset(this, 'Asset', { path: file });
    if (Token.isUnresolved(this.asset.s3ObjectKey)) throw new Error('AgentBundle needs a stack synthesizer that names file assets at synth (the default one does)');
    this.fileName = path.posix.basename(this.asset.s3ObjectKey);
  }

  /**
   * Lets the agent's hosts download it: s3:GetObject on this one object. The
   * assets bucket is the CDK bootstrap's, shared with every stack of the
   * environment, so not Asset.grantRead (GetObject*, GetBucket*, List* on all of it).
   */
  grantRead(role: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee: role, actions: ['s3:GetObject'], resourceArns: [this.asset.bucket.arnForObjects(this.asset.s3ObjectKey)] });
  }
}
