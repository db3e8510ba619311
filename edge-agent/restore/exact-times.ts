import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { bytesOfName } from '#core/model/file-name.ts';

/**
 * Sets the mtimes (and atimes, to the same value, as the rest of restore
 * does) that Node cannot set exactly.
 *
 * Node's utimes/futimes/lutimes take seconds as a double and libuv cuts
 * them to microseconds; worse, a time before 1970 becomes "now" (tested on
 * Node 20: utimes(-100) sets the current time). So restore sets every time
 * with Node as before (cheap, in the file writer's batches) and hands only
 * the members whose time that did not set exactly (`nodeSetsExactly`) to
 * this pass, which runs after them:
 * - one `python3` process per restore, fed `path\0ns\0` records on stdin,
 *   calling os.utime(ns=..., follow_symlinks=False) (utimensat with
 *   nanoseconds): a few microseconds a file, no process per file;
 * - where there is no python3, `xargs -0 touch -h -d @S.N` per distinct time (GNU touch keeps
 *   nanoseconds and negative times): a process per distinct time, slower but exact.
 * Node has no utimensat binding and Cairn ships no native addon of its own
 * for it; this is hand-written for that reason.
 */
export class ExactTimes {
  #helper: ChildProcessWithoutNullStreams | undefined;
  #helperDone: Promise<string[]> | undefined;
  readonly #fallback: Array<{ absolute: string; ns: bigint }> = [];
  #python: boolean | undefined;
  readonly #pythonCommand: string | undefined;

  /** `python`: the interpreter to use, or false to use touch alone (tests of the fallback). */
  constructor(options: { python?: string | false } = {}) {
    this.#pythonCommand = options.python === false ? undefined : (options.python ?? defaultPython());
    if (options.python === false) this.#python = false;
  }

  /** Sets `absolute`'s times to `ns` exactly, after what Node set, unless Node set them exactly already. Never follows a symlink. */
  note(absolute: string, ns: bigint, nodeSeconds: number): void {
    if (nodeSetsExactly(ns, nodeSeconds)) return;
    if (this.#python !== false && this.#pythonCommand !== undefined) {
      const helper = this.#startHelper(this.#pythonCommand);
      if (helper) {
        helper.stdin.write(Buffer.concat([bytesOfName(absolute), NUL, Buffer.from(String(ns)), NUL]));
        return;
      }
    }
    this.#fallback.push({ absolute, ns });
  }

  /** Waits for every time noted to be set; returns the ones that could not be, as `path: reason`. Call once, at the end. */
  async finish(): Promise<string[]> {
    const problems: string[] = [];
    if (this.#helper) {
      this.#helper.stdin.end();
      problems.push(...(await this.#helperDone!));
      this.#helper = undefined;
    }
    // The fallback: `xargs -0 touch` once per distinct time (touch sets one time for all its files), two at a time.
    // The names go through xargs's stdin as bytes: Node's argv is UTF-8 text, which a name that is not cannot pass through.
    const byTime = new Map<bigint, Buffer[]>();
    for (const { absolute, ns } of this.#fallback.splice(0)) {
      const names = byTime.get(ns) ?? [];
      names.push(bytesOfName(absolute), NUL);
      byTime.set(ns, names);
    }
    const queue = [...byTime];
    const worker = async (): Promise<void> => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const failure = await touchAll(item[0], Buffer.concat(item[1]));
        if (failure !== undefined) problems.push(`${item[1].length / 2} file(s) with mtime ${secondsText(item[0])}: cannot set their times exactly (${failure})`);
      }
    };
    await Promise.all([worker(), worker()]);
    return problems;
  }

  #startHelper(command: string): ChildProcessWithoutNullStreams | undefined {
    if (this.#helper) return this.#helper;
    // Once per restore, at the first time Node could not set: is the interpreter there at all?
    if (spawnSync(command, ['-c', 'import os'], { stdio: 'ignore' }).status !== 0) {
      this.#python = false;
      return undefined;
    }
    const helper = spawn(command, ['-c', PYTHON_HELPER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    helper.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    helper.stdin.on('error', () => undefined); // an early exit is reported by `close`
    this.#helperDone = new Promise((resolve) => {
      helper.on('error', (error) => resolve([`${command} failed: ${error.message}; some times may not be exact`]));
      helper.on('close', (code) => {
        const lines = stderr.split('\n').filter((l) => l !== '');
        resolve(code === 0 ? lines : [...lines, `${command} exited with ${code}: some times may not be exact`]);
      });
    });
    this.#helper = helper;
    this.#python = true;
    return helper;
  }
}

const NUL = Buffer.from([0]);

/** The system's python3 when it is at the usual place (a version manager's shim on PATH can take a second to start), else whatever PATH has. */
function defaultPython(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** Reads `path\0ns\0` records as they come (memory stays flat); a path that is gone is passed over (what was placed there was refused); other failures go to stderr as lines. */
const PYTHON_HELPER = `
import os, sys
def apply(path, ns):
    try:
        os.utime(path, ns=(ns, ns), follow_symlinks=False)
    except FileNotFoundError:
        pass
    except OSError as e:
        sys.stderr.write(path.decode("utf-8", "backslashreplace") + ": cannot set its time exactly (" + e.strerror + ")\\n")
rest = b""
while True:
    chunk = sys.stdin.buffer.read1(1 << 20)
    if not chunk:
        break
    fields = (rest + chunk).split(b"\\0")
    rest = fields.pop()
    if len(fields) % 2:
        rest = fields.pop() + b"\\0" + rest
    for i in range(0, len(fields), 2):
        apply(fields[i], int(fields[i + 1]))
`;

/**
 * Whether Node set `ns` exactly from `seconds` (the Number it was given):
 * libuv takes the whole seconds, then the fraction times 1e9 cut to whole
 * microseconds (uv__fs_to_timespec); a negative time is never set right.
 * JavaScript's doubles compute this exactly as libuv's C does.
 */
export function nodeSetsExactly(ns: bigint, seconds: number): boolean {
  if (ns < 0n || seconds < 0 || !Number.isFinite(seconds)) return false;
  const whole = Math.trunc(seconds);
  let fraction = Math.trunc((seconds - whole) * 1e9);
  fraction -= fraction % 1000;
  return BigInt(whole) * 1_000_000_000n + BigInt(fraction) === ns;
}

/** Sets the times of the NUL-separated `names` to `ns` with `xargs -0 touch`; resolves with why it failed, or undefined. */
function touchAll(ns: bigint, names: Buffer): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('xargs', ['-0', 'touch', '-h', '-c', '-d', `@${secondsText(ns)}`, '--'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => undefined); // reported by `close`
    child.on('error', (error) => resolve(error.message));
    child.on('close', (code) => resolve(code === 0 ? undefined : stderr.split('\n')[0] || `xargs exited with ${code}`));
    child.stdin.end(names);
  });
}

/** `ns` as signed seconds with nine decimals, as touch -d @ reads it (`-100.5` is 100.5 s before the epoch). */
function secondsText(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const abs = ns < 0n ? -ns : ns;
  return `${sign}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}
