import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetDocumentCommand, ListCommandsCommand, type SSMClient } from '@aws-sdk/client-ssm';

/**
 * Plays the SSM Agent of one managed instance for an endpoint emulator that
 * records SendCommand but runs nothing (moto; LocalStack without real
 * instances): it polls ListCommands for commands sent to the instance, reads
 * each command's document (GetDocument) and runs its steps the way the agent
 * does, for the two actions Cairn's document uses:
 *
 * - `aws:runShellScript`: the lines, joined by newlines, run by /bin/sh in its
 *   `workingDirectory` (else a fresh directory per command), after the textual `{{ name }}` substitution SSM
 *   makes; with `interpolationType: ENV_VAR` each value is also exported as
 *   `SSM_<name>` (SSM Agent 3.3.2746.0 and later; `envVars: false` plays an
 *   older agent, which exports nothing).
 * - `aws:downloadContent` with `sourceType: S3`: GetObject of the
 *   `sourceInfo.path` URL (virtual-hosted or path style) into `destinationPath`
 *   under the working directory.
 *
 * It reports nothing back to SSM (the emulators have no agent-side API); what
 * a step prints is kept in `runs` for the test to read.
 */
export interface SsmShimOptions {
  ssm: SSMClient;
  s3: S3Client;
  instanceId: string;
  /** Only commands of this document are run (the others are left alone). */
  documentName?: string;
  /** Export `SSM_<name>` for ENV_VAR parameters, as SSM Agent ≥ 3.3.2746.0 does. Default true. */
  envVars?: boolean;
  /** The environment the steps run with (credentials, endpoint); PATH is kept. */
  env?: NodeJS.ProcessEnv;
  pollMs?: number;
  /** Where the document's absolute paths land. Default: a fresh temporary directory. */
  root?: string;
}

export interface ShimRun {
  commandId: string;
  documentName: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  workDir: string;
}

type DocumentStep = { action: string; name: string; inputs: Record<string, unknown> };
type DocumentContent = { parameters?: Record<string, { interpolationType?: string; default?: unknown }>; mainSteps: DocumentStep[] };

export class SsmShim {
  readonly runs: ShimRun[] = [];
  readonly #options: SsmShimOptions;
  readonly #seen = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The sandbox the document's absolute paths are placed under. */
  readonly root: string;

  constructor(options: SsmShimOptions) {
    this.#options = options;
    this.root = options.root ?? mkdtempSync(join(tmpdir(), 'cairn-ssm-root-'));
  }

  /** A document path as the shim places it: absolute ones under root, relative ones under the command's directory. */
  #place(path: string, workDir: string): string {
    return isAbsolute(path) ? join(this.root, path) : join(workDir, path);
  }

  /** Commands already sent are not run: only what arrives after start. */
  async start(): Promise<void> {
    for (const command of await this.#commands()) this.#seen.add(command.CommandId!);
    const loop = async (): Promise<void> => {
      if (this.#stopped) return;
      await this.poll().catch(() => undefined);
      if (!this.#stopped) this.#timer = setTimeout(() => void loop(), this.#options.pollMs ?? 200);
    };
    this.#timer = setTimeout(() => void loop(), this.#options.pollMs ?? 200);
  }

  /** Runs every new command once; resolves when their steps have been started. */
  async poll(): Promise<void> {
    for (const command of await this.#commands()) {
      const id = command.CommandId!;
      if (this.#seen.has(id)) continue;
      this.#seen.add(id);
      if (this.#options.documentName && command.DocumentName !== this.#options.documentName) continue;
      const run = this.#run(id, command.DocumentName!, command.Parameters ?? {});
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
    }
  }

  /** Stops polling and waits for the steps already running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#running]);
  }

  async #commands() {
    const { Commands } = await this.#options.ssm.send(new ListCommandsCommand({ InstanceId: this.#options.instanceId }));
    return Commands ?? [];
  }

  async #run(commandId: string, documentName: string, parameters: Record<string, string[]>): Promise<void> {
    const workDir = mkdtempSync(join(tmpdir(), 'cairn-ssm-shim-'));
    const record: ShimRun = { commandId, documentName, exitCode: null, stdout: '', stderr: '', workDir };
    this.runs.push(record);
    try {
      const { Content } = await this.#options.ssm.send(new GetDocumentCommand({ Name: documentName }));
      const content = JSON.parse(Content!) as DocumentContent;
      const values = resolveParameters(content, parameters);
      for (const step of content.mainSteps) {
        const ok = await this.#step(step, content, values, record);
        if (!ok) return;
      }
    } catch (error) {
      record.stderr += `ssm-shim: ${error instanceof Error ? error.message : String(error)}\n`;
      record.exitCode = -1;
    }
  }

  async #step(step: DocumentStep, content: DocumentContent, values: Map<string, string>, record: ShimRun): Promise<boolean> {
    const inputs = JSON.parse(substitute(JSON.stringify(step.inputs), values, true)) as Record<string, unknown>;
    if (step.action === 'aws:downloadContent') {
      if (inputs['sourceType'] !== 'S3') throw new Error(`step ${step.name}: sourceType ${String(inputs['sourceType'])} is not emulated`);
      const { path } = JSON.parse(String(inputs['sourceInfo'])) as { path: string };
      const { bucket, key } = s3Location(path);
      const destinationPath = String(inputs['destinationPath'] ?? '');
      const destination = this.#place(destinationPath, record.workDir);
      const target = destinationPath === '' || destinationPath.endsWith('/') ? join(destination, key.split('/').pop()!) : destination;
      mkdirSync(dirname(target), { recursive: true });
      const object = await this.#options.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(object.Body as Readable, createWriteStream(target));
      return true;
    }
    if (step.action !== 'aws:runShellScript') throw new Error(`step ${step.name}: action ${step.action} is not emulated`);
    // The script's text gets the textual substitution; the values reach the
    // shell as SSM_<name> only for ENV_VAR parameters, and only on a new agent.
    const script = substitute((inputs['runCommand'] as string[]).join('\n'), values, false);
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], ...this.#options.env };
    if (this.#options.envVars ?? true) {
      for (const [name, definition] of Object.entries(content.parameters ?? {})) {
        if (definition.interpolationType === 'ENV_VAR' && values.has(name)) env[`SSM_${name}`] = values.get(name);
      }
    }
    const cwd = typeof inputs['workingDirectory'] === 'string' ? this.#place(inputs['workingDirectory'], record.workDir) : record.workDir;
    mkdirSync(cwd, { recursive: true });
    const child = spawn('/bin/sh', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (text: string) => (record.stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (record.stderr += text));
    record.exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return record.exitCode === 0;
  }
}

/** Sent values, else the document's defaults; a StringList is joined with commas as SSM does for text. */
function resolveParameters(content: DocumentContent, sent: Record<string, string[]>): Map<string, string> {
  const values = new Map<string, string>();
  for (const [name, definition] of Object.entries(content.parameters ?? {})) {
    if (definition.default !== undefined) values.set(name, Array.isArray(definition.default) ? definition.default.join(',') : String(definition.default));
  }
  for (const [name, list] of Object.entries(sent)) values.set(name, list.join(','));
  return values;
}

/** `{{ name }}` → value; inside JSON text the value is JSON-escaped so the inputs stay valid. */
function substitute(text: string, values: Map<string, string>, asJson: boolean): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}/g, (whole, name: string) => {
    const value = values.get(name);
    if (value === undefined) return whole;
    return asJson ? JSON.stringify(value).slice(1, -1) : value;
  });
}

/** https://BUCKET.s3[.REGION].amazonaws.com/KEY, https://s3[.REGION].amazonaws.com/BUCKET/KEY, or an endpoint URL /BUCKET/KEY. */
export function s3Location(url: string): { bucket: string; key: string } {
  const parsed = new URL(url);
  const virtual = /^([^.]+)\.s3[.-]/.exec(parsed.hostname);
  const path = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (virtual) return { bucket: virtual[1]!, key: path };
  const slash = path.indexOf('/');
  if (slash <= 0) throw new Error(`not an S3 object URL: ${url}`);
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1) };
}
