import { Worker } from 'node:worker_threads';

export interface ToolRun {
  stdout: string;
  stderr: string;
  code: number;
}

type Reply = { id: number; stdout: string; stderr: string; code: number } | { id: number; error: { code?: string; message: string } };

/**
 * The body of the thread, started from its source text (no second entry
 * file for the agent's bundle, as reader-thread-main.ts).
 */
function toolThreadMain(): void {
  const { execFile } = process.getBuiltinModule('node:child_process');
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  if (!parentPort) return;
  const port = parentPort;
  port.on('message', ({ id, file, args, input }: { id: number; file: string; args: string[]; input?: Uint8Array }) => {
    const child = execFile(file, args, { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') port.postMessage({ id, error: { code: typeof error.code === 'string' ? error.code : undefined, message: error.message } });
      else port.postMessage({ id, stdout, stderr, code: typeof error?.code === 'number' ? error.code : 0 });
    });
    // The paths, for xargs (xattr-reader.ts); a tool that exits early says why by its exit code and stderr.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/**
 * Runs the attr and acl tools (xattr-reader.ts) from a thread of its own.
 * Why: starting a process forks the agent, and Node does it synchronously
 * on the calling thread: on the main thread that was about 30 ms a
 * process on a loaded 2-core host, time the main thread (the packer, the
 * small-file bottleneck) did nothing else. The thread is started on the
 * first run and unreferenced while idle, so it never holds the process
 * open; `close` ends it.
 */
export class ToolThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (run: ToolRun) => void; reject: (error: Error) => void }>();
  #next = 1;

  /** Runs `file` with `args`, `input` (if any) on its stdin. */
  run(file: string, args: string[], input?: Uint8Array): Promise<ToolRun> {
    const worker = this.#start();
    const id = this.#next++;
    if (this.#pending.size === 0) worker.ref();
    return new Promise<ToolRun>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, file, args, input });
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
    for (const waiter of this.#pending.values()) waiter.reject(new Error('the tool thread was closed'));
    this.#pending.clear();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(`const __name = (target) => target;\n(${toolThreadMain.toString()})();`, { eval: true, execArgv: [] });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if ('error' in reply) waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else waiter.resolve(reply);
    });
    worker.on('error', (error) => {
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
      if (this.#worker === worker) this.#worker = undefined;
    });
    this.#worker = worker;
    return worker;
  }
}
