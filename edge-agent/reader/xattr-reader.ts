import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { bytesOfName, fsPathOf, nameFromBytes } from '#core/model/file-name.ts';
import type { MemberAttrs } from '../image/member-attrs.ts';
import { errorsByPath, parseDump, unquote } from './attr-dump.ts';
import { ToolThread } from './tool-thread.ts';

/** What the reader learned of one path's attributes. */
export interface AttrResult {
  attrs?: MemberAttrs;
  /** Why its attributes (some or all) could not be read: the job lists it (status 1). */
  problem?: string;
}

/**
 * Runs a tool with arguments and `input` on its stdin; resolves with its
 * stdout and stderr (as latin1 text, every byte kept) and exit code,
 * rejects only when it cannot be started.
 */
export type RunTool = (file: string, args: string[], input?: Uint8Array) => Promise<{ stdout: string; stderr: string; code: number }>;

export const runTool: RunTool = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ stdout, stderr, code: typeof error?.code === 'number' ? error.code : 0 });
    });
    child.stdin?.on('error', () => undefined); // a tool that exits early: its exit code and stderr say why
    child.stdin?.end(input);
  });

/**
 * The paths go to the tools as NUL-separated bytes on stdin, through
 * `xargs -0 -r` (findutils), never as arguments: an argument is a string,
 * and a name that is not UTF-8 (core/model/file-name.ts) would reach the
 * tool with U+FFFD in place of its bytes, naming no file. xargs also splits
 * a long list within the kernel's argument limit.
 */
const XARGS = ['-0', '-r'];
/** xargs's exit codes for a command it could not run (126) or find (127). */
const NOT_RUN = new Set([126, 127]);

/** Directories read ahead of the walk (see `ahead`) and not listed by it yet, at most: their results are kept (only entries with attributes). */
const MAX_EARLY = 128;
/** Read-ahead batches in flight at once: the other core's worth. */
const MAX_RUNNING = 2;
/** Directories read ahead in one batch (one getfattr over all their entries), at most. */
const GROUP_DIRS = 64;

const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

/**
 * Reads extended attributes and POSIX ACLs with the attr and acl tools
 * (Node has no xattr call; the native `fs-xattr` package would need a
 * compiler on every agent host and is not a dependency), in batches:
 *
 * - when the walk lists a directory (`listed`), ONE `getfattr -d -m - -h
 *   -e base64` over all its entries starts at once and runs while the walk
 *   stats and packs them; getfattr prints only the files that have any
 *   attribute, so a directory of files without costs one process and
 *   nothing per file;
 * - only for the entries that hold an ACL (`system.posix_acl_*` in that
 *   output) ONE `getfacl -n -p -E` follows for the directory.
 *
 * Each through `xargs -0 -r` with the paths on its stdin as bytes (see
 * XARGS: a name that is not UTF-8 cannot be an argument string), and the
 * names in their output read back as bytes (attr-dump.ts).
 *
 * A process costs some milliseconds to start (tens on a loaded host, and
 * a fork of the agent's main thread), and the walk would wait that long at
 * every directory. So the walk also names the subdirectories it found
 * (`ahead`) before it enters them, and they are listed (readdir) and read
 * here in advance, in walk order (a directory's subdirectories before its
 * later siblings: depth first), up to GROUP_DIRS directories in one
 * getfattr, MAX_RUNNING such batches at a time and MAX_EARLY directories
 * ahead at most; the walk finds their results ready, and a tree of small
 * directories costs a process per few thousand entries, not one per
 * directory. Names the walk lists that the early listing did not have
 * (created meanwhile) are read when it lists them.
 *
 * A path that was not in a listed directory (a selection root) is read in a
 * batch of the paths asked for in the same turn.
 *
 * An error getfattr or getfacl names for a path becomes that path's
 * `problem`, except "No such file or directory": a file that vanished is
 * reported by the reader itself when it opens it. A tool that cannot run
 * (not installed) is one problem of the job (`toolProblem`), said once, and
 * no attributes are read.
 *
 * Memory: a directory's results are kept until its entries are taken
 * (`of`, once each), and only for entries that have attributes.
 */
export class XattrReader {
  readonly #run: RunTool;
  /** Results by source path, for paths of directories whose getfattr ran or runs. */
  readonly #pending = new Map<string, { result: Promise<Map<string, AttrResult>>; left: number }>();
  /** Source path → its directory's key in #pending, until taken. */
  readonly #dirOf = new Map<string, string>();
  /** Directories read ahead, by source path, until the walk lists them: the names read and their results. */
  readonly #early = new Map<string, Promise<{ names: Set<string>; results: Map<string, AttrResult> }>>();
  /** Subdirectories the walk will enter, in its order, not read ahead yet. */
  #queue: string[] = [];
  #running = 0;
  #toolProblem: string | undefined;
  #loose: { paths: string[]; result: Promise<Map<string, AttrResult>> } | undefined;

  /** Runs the tools from here when given nothing (see tool-thread.ts). */
  readonly #thread: ToolThread | undefined;

  constructor(run?: RunTool) {
    this.#thread = run ? undefined : new ToolThread();
    this.#run = run ?? ((file, args, input) => this.#thread!.run(file, args, input));
  }

  /** Why no attributes could be read at all (a tool missing), once; undefined otherwise. */
  get toolProblem(): string | undefined {
    return this.#toolProblem;
  }

  /** The walk listed `dir` (a source path) with these entry names: their attributes are read now, in one batch. */
  listed(dir: string, names: readonly string[]): void {
    const early = this.#early.get(dir);
    if (early) {
      this.#early.delete(dir);
      this.#pump();
    } else {
      // Reached before it was read ahead: read now, not again later.
      const queued = this.#queue.indexOf(dir);
      if (queued !== -1) this.#queue.splice(queued, 1);
    }
    if (names.length === 0 || this.#toolProblem !== undefined) return;
    const paths = names.map((name) => path.join(dir, name));
    const result = early ? early.then(async ({ names: had, results }) => this.#merge(results, paths.filter((p) => !had.has(path.basename(p))))) : this.#read(paths);
    result.catch(() => undefined);
    this.#pending.set(dir, { result, left: paths.length });
    for (const p of paths) this.#dirOf.set(p, dir);
  }

  /** The walk found these subdirectories (source paths, in walk order) and will enter them: some are read ahead. */
  ahead(dirs: readonly string[]): void {
    if (this.#toolProblem !== undefined || dirs.length === 0) return;
    // Found inside the directory being walked: entered before the rest of the queue (its later siblings and theirs).
    this.#queue.unshift(...dirs);
    this.#pump();
  }

  #pump(): void {
    while (this.#running < MAX_RUNNING && this.#early.size < MAX_EARLY && this.#queue.length > 0) {
      const group = this.#queue.splice(0, Math.min(GROUP_DIRS, MAX_EARLY - this.#early.size));
      this.#running += 1;
      // Not listable now: the walk says why when it tries, and reads its names then.
      const listings = Promise.all(group.map((dir) => readdir(fsPathOf(dir), { encoding: 'buffer' }).then((names) => names.map(nameFromBytes), () => [] as string[])));
      const read = listings
        .then(async (lists) => {
          const paths = group.flatMap((dir, k) => lists[k]!.map((name) => path.join(dir, name)));
          return { lists, results: paths.length > 0 ? await this.#read(paths) : new Map<string, AttrResult>() };
        })
        .finally(() => {
          this.#running -= 1;
          this.#pump();
        });
      read.catch(() => undefined);
      // One results map for the group: its keys are whole paths, each taken once.
      group.forEach((dir, k) => this.#early.set(dir, read.then(({ lists, results }) => ({ names: new Set(lists[k]), results }))));
    }
  }

  async #merge(results: Map<string, AttrResult>, missing: string[]): Promise<Map<string, AttrResult>> {
    if (missing.length === 0) return results;
    for (const [p, result] of await this.#read(missing)) results.set(p, result);
    return results;
  }

  /** The attributes of one walked path (its source path); each path once. */
  async of(sourcePath: string): Promise<AttrResult> {
    if (this.#toolProblem !== undefined) return {};
    const dir = this.#dirOf.get(sourcePath);
    if (dir === undefined) return this.#ofLoose(sourcePath);
    this.#dirOf.delete(sourcePath);
    const batch = this.#pending.get(dir)!;
    // Every entry of the directory taken: its batch goes.
    if (--batch.left === 0) this.#pending.delete(dir);
    const results = await batch.result;
    const result = results.get(sourcePath);
    results.delete(sourcePath);
    return result ?? {};
  }

  /** Forgets every batch not taken (the walk ended, or stopped early; entries it could not stat are never taken) and ends the tool thread. */
  async clear(): Promise<void> {
    this.#pending.clear();
    this.#dirOf.clear();
    this.#early.clear();
    this.#queue = [];
    await this.#thread?.close();
  }

  #ofLoose(sourcePath: string): Promise<AttrResult> {
    if (!this.#loose) {
      const batch = { paths: [] as string[], result: Promise.resolve(new Map<string, AttrResult>()) };
      // Paths asked for in this turn go together.
      batch.result = Promise.resolve().then(() => {
        this.#loose = undefined;
        return this.#read(batch.paths);
      });
      this.#loose = batch;
    }
    this.#loose.paths.push(sourcePath);
    return this.#loose.result.then((results) => results.get(sourcePath) ?? {});
  }

  async #read(paths: string[]): Promise<Map<string, AttrResult>> {
    const results = new Map<string, AttrResult>();
    const withAcl: string[] = [];
    const ran = await this.#tool('getfattr', ['-d', '-m', '-', '-h', '-e', 'base64', '--absolute-names', '--'], paths);
    if (!ran) return results;
    for (const file of parseDump(ran.stdout)) {
      const xattrs: NonNullable<MemberAttrs['xattrs']> = [];
      for (const line of file.lines) {
        const cut = line.indexOf('=');
        const name = nameFromBytes(unquote(cut === -1 ? line : line.slice(0, cut)));
        const value = cut === -1 ? '' : line.slice(cut + 1);
        if (name === ACL_ACCESS || name === ACL_DEFAULT) {
          if (withAcl.at(-1) !== file.path) withAcl.push(file.path);
        } else xattrs.push({ name, value: decodeValue(value) });
      }
      if (xattrs.length > 0) results.set(file.path, { attrs: { xattrs } });
    }
    this.#problems(ran.stderr, 'getfattr', paths, results);
    if (withAcl.length > 0) await this.#readAcls(withAcl, results);
    return results;
  }

  async #readAcls(paths: string[], results: Map<string, AttrResult>): Promise<void> {
    // -n numeric ids, -p absolute names kept, -E no "#effective" comments (GNU tar strips them too).
    const ran = await this.#tool('getfacl', ['-n', '-p', '-E', '--'], paths);
    if (!ran) return;
    for (const file of parseDump(ran.stdout)) {
      const access = file.lines.filter((l) => !l.startsWith('default:'));
      const defaults = file.lines.filter((l) => l.startsWith('default:')).map((l) => l.slice('default:'.length));
      const acl: NonNullable<MemberAttrs['acl']> = {};
      // Only user::, group:: and other:: is the mode, not an ACL (GNU tar writes none either: file_has_acl is false).
      if (access.length > 3) acl.access = aclText(access);
      if (defaults.length > 0) acl.default = aclText(defaults);
      if (acl.access === undefined && acl.default === undefined) continue;
      const result = results.get(file.path) ?? {};
      result.attrs = { ...result.attrs, acl };
      results.set(file.path, result);
    }
    this.#problems(ran.stderr, 'getfacl', paths, results, 'ACL');
  }

  #problems(stderr: string, tool: string, batch: readonly string[], results: Map<string, AttrResult>, what = 'extended attributes'): void {
    if (stderr.trim() === '') return;
    const { byPath, other } = errorsByPath(stderr, tool, batch);
    for (const [p, reason] of byPath) {
      if (/No such file or directory/.test(reason)) continue;
      const result = results.get(p) ?? {};
      result.problem = `${what} not read (${tool}: ${reason})`;
      results.set(p, result);
    }
    // An error line naming no path we gave: every path of the batch may be incomplete.
    if (other.length > 0) for (const p of batch) {
      const result = results.get(p) ?? {};
      result.problem ??= `${what} may be incomplete (${tool}: ${other[0]})`;
      results.set(p, result);
    }
  }

  /** Runs `file` with `args` over `paths` (xargs, paths on stdin); undefined, and the job told once, when it cannot run at all. */
  async #tool(file: string, args: string[], paths: readonly string[]): Promise<{ stdout: string; stderr: string } | undefined> {
    const input = Buffer.concat(paths.flatMap((p) => [bytesOfName(p), Buffer.alloc(1)]));
    const cannotRun = (why: string): undefined => {
      this.#toolProblem ??= `extended attributes and ACLs not read: cannot run ${file} (${why}; it is in the ${file === 'getfacl' ? 'acl' : 'attr'} package, xargs in findutils)`;
      return undefined;
    };
    let ran;
    try {
      ran = await this.#run('xargs', [...XARGS, file, ...args], input);
    } catch (error) {
      return cannotRun(`xargs: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    if (NOT_RUN.has(ran.code)) return cannotRun(Buffer.from(ran.stderr, 'latin1').toString().trim().split('\n')[0] || `xargs exited ${ran.code}`);
    return ran;
  }
}

/** getfattr's `-e base64` value: `0s` and base64; text (`"..."`) and hex (`0x`) are read too, should a getfattr print them. */
function decodeValue(value: string): Buffer {
  if (value.startsWith('0s')) return Buffer.from(value.slice(2), 'base64');
  if (value.startsWith('0x')) return Buffer.from(value.slice(2), 'hex');
  if (value.startsWith('"') && value.endsWith('"')) return unquote(value.slice(1, -1));
  return Buffer.from(value, 'latin1');
}

/** libacl's `acl_to_text` layout: each entry on its own line, ending in a newline. */
function aclText(entries: readonly string[]): string {
  return entries.map((e) => `${e.replace(/\s*#.*$/, '')}\n`).join('');
}
