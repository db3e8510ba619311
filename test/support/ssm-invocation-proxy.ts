import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ShimRun } from './ssm-shim.ts';

/**
 * The other half of what the SSM service does with an agent: relaying the
 * output of a command's step to GetCommandInvocation. moto records
 * SendCommand but answers every GetCommandInvocation with "Success" and no
 * output, and the SsmShim (which plays the SSM Agent) has no API to report
 * through. This proxy sits in front of the emulator: every request goes to
 * it unchanged, except GetCommandInvocation, which it answers from the
 * shim's runs as SSM would: InProgress while the step runs, then Success or
 * Failed with the step's stdout and stderr (SSM keeps 24,000 and 8,000
 * characters of them). An unknown command id is InvocationDoesNotExist.
 */
export class SsmInvocationProxy {
  readonly #server: Server;
  readonly #target: URL;
  readonly #runs: () => readonly ShimRun[];
  /** GetCommandInvocation requests answered, for the test to see the CLI asked. */
  readonly asked: { CommandId: string; InstanceId: string; PluginName?: string }[] = [];

  constructor(target: string, runs: () => readonly ShimRun[]) {
    this.#target = new URL(target);
    this.#runs = runs;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  /** Listens on a free loopback port; resolves with its endpoint URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.headers['x-amz-target'] === 'AmazonSSM.GetCommandInvocation') return this.#invocation(JSON.parse(body.toString('utf8')) as { CommandId: string; InstanceId: string; PluginName?: string }, res);
    const forwarded = request({ host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', (error) => {
      res.writeHead(502);
      res.end(error.message);
    });
    forwarded.end(body);
  }

  #invocation(input: { CommandId: string; InstanceId: string; PluginName?: string }, res: ServerResponse): void {
    this.asked.push(input);
    const run = this.#runs().find((r) => r.commandId === input.CommandId);
    const headers = { 'content-type': 'application/x-amz-json-1.1' };
    if (run === undefined) {
      res.writeHead(400, headers);
      res.end(JSON.stringify({ __type: 'InvocationDoesNotExist', message: `no invocation of ${input.CommandId} on ${input.InstanceId}` }));
      return;
    }
    const done = run.exitCode !== null;
    const status = !done ? 'InProgress' : run.exitCode === 0 ? 'Success' : 'Failed';
    res.writeHead(200, headers);
    res.end(
      JSON.stringify({
        CommandId: run.commandId,
        InstanceId: input.InstanceId,
        DocumentName: run.documentName,
        PluginName: input.PluginName,
        ResponseCode: run.exitCode ?? -1,
        Status: status,
        StatusDetails: status,
        StandardOutputContent: done ? run.stdout.slice(0, 24_000) : '',
        StandardErrorContent: done ? run.stderr.slice(0, 8_000) : '',
      }),
    );
  }
}
