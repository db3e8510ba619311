import { spawn } from 'node:child_process';
import { errorsByPath, quote } from '../reader/attr-dump.ts';
import type { MemberAttrs } from '../image/member-attrs.ts';

/** Runs a tool with `input` on its stdin; resolves with its stderr and exit code, rejects when it cannot be started. */
export type RunWithInput = (file: string, args: string[], input: string) => Promise<{ stderr: string; code: number }>;

export const runWithInput: RunWithInput = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stderr = '';
    child.stderr.setEncoding('latin1');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 1024 * 1024) stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stderr, code: code ?? 1 }));
    child.stdin.on('error', () => undefined); // a tool that exits early: its exit code and stderr say why
    child.stdin.end(input, 'latin1');
  });

interface Pending {
  absolute: string;
  attrs: MemberAttrs;
  /** Permission bits: a directory with only a default ACL gets its access ACL from them (setfacl wants both). */
  mode: number;
}

/**
 * Applies restored members' extended attributes and ACLs, after their data
 * and metadata are in place: one `setfattr -h --restore=-` and one
 * `setfacl --restore=-` a batch (the dump formats of getfattr and getfacl
 * on stdin; attr-dump.ts), never a process per file. The paths are in that
 * text, quoted as `\ooo` byte by byte, so a name that is not UTF-8 reaches
 * the tools as its bytes (they unquote it).
 *
 * After, because: ownership is set as a file is written, and a chown
 * clears `security.capability`; an access ACL sets the group bits to its
 * mask (the same bits the member's mode has, since the source's mode
 * showed the mask); a directory's default ACL applied before its files
 * were created would give them ACLs they did not have. Setting attributes
 * changes a file's ctime only, not its mtime.
 *
 * What cannot be set (a file system without xattrs or ACLs: "Operation not
 * supported"; `trusted.*` or `security.*` when not root) is returned as
 * `path: reason`, which the restore lists as refused (status 1). A path that
 * is not there ("No such file or directory") is one whose member was not
 * put in place, and is already listed.
 */
export class AttrRestorer {
  readonly #run: RunWithInput;
  #pending: Pending[] = [];

  constructor(run: RunWithInput = runWithInput) {
    this.#run = run;
  }

  get size(): number {
    return this.#pending.length;
  }

  add(absolute: string, attrs: MemberAttrs, mode: number): void {
    this.#pending.push({ absolute, attrs, mode });
  }

  /** Applies what was added, except what `keep` holds back for a later call; returns what failed, as `path: reason`. */
  async apply(keep?: (absolute: string, attrs: MemberAttrs) => boolean): Promise<string[]> {
    const batch = keep ? this.#pending.filter((p) => !keep(p.absolute, p.attrs)) : this.#pending;
    this.#pending = keep ? this.#pending.filter((p) => keep(p.absolute, p.attrs)) : [];
    if (batch.length === 0) return [];
    const problems: string[] = [];
    const withXattrs = batch.filter((p) => (p.attrs.xattrs?.length ?? 0) > 0);
    if (withXattrs.length > 0) {
      const dump = withXattrs.map((p) => `# file: ${quote(p.absolute)}\n${p.attrs.xattrs!.map((x) => `${quote(x.name)}=0s${x.value.toString('base64')}\n`).join('')}\n`).join('');
      problems.push(...(await this.#tool('setfattr', ['-h', '--restore=-'], dump, withXattrs, 'extended attributes')));
    }
    const withAcl = batch.filter((p) => p.attrs.acl?.access !== undefined || p.attrs.acl?.default !== undefined);
    if (withAcl.length > 0) {
      const dump = withAcl.map((p) => `# file: ${quote(p.absolute)}\n${aclLines(p)}\n`).join('');
      problems.push(...(await this.#tool('setfacl', ['--restore=-'], dump, withAcl, 'ACL')));
    }
    return problems;
  }

  async #tool(file: string, args: string[], input: string, batch: readonly Pending[], what: string): Promise<string[]> {
    let ran;
    try {
      ran = await this.#run(file, args, Buffer.from(input).toString('latin1'));
    } catch (error) {
      const reason = `${what} not restored: cannot run ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
      return batch.map((p) => `${p.absolute}: ${reason}`);
    }
    if (ran.code === 0 && ran.stderr.trim() === '') return [];
    const { byPath, other } = errorsByPath(ran.stderr, file, batch.map((p) => p.absolute));
    const problems: string[] = [];
    for (const [p, reason] of byPath) if (!/No such file or directory/.test(reason)) problems.push(`${p}: ${what} not restored (${file}: ${reason})`);
    if (other.length > 0 || (ran.code !== 0 && byPath.size === 0)) problems.push(`${what} of ${batch.length} restored paths may be incomplete (${file} exited ${ran.code}: ${other[0] ?? 'no message'})`);
    return problems;
  }
}

/** The getfacl dump lines of one path: its access ACL (from the mode when only a default ACL was kept), then the default ACL. */
function aclLines({ attrs, mode }: Pending): string {
  const access = attrs.acl?.access ?? `user::${rwx(mode >> 6)}\ngroup::${rwx(mode >> 3)}\nother::${rwx(mode)}\n`;
  const defaults = attrs.acl?.default === undefined ? '' : attrs.acl.default.split('\n').filter((l) => l !== '').map((l) => `default:${l}\n`).join('');
  return `${access.endsWith('\n') ? access : `${access}\n`}${defaults}`;
}

function rwx(bits: number): string {
  return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
}
