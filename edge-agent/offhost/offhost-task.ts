import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CairnError } from '#core/errors.ts';
import { ALL_LOCAL_FILE_SYSTEMS } from '#core/model/selection.ts';
import { readPathOf, type FrozenImage } from '#core/model/snapshot.ts';
import type { BackupTask, BackupTaskResult } from '#core/model/task.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { BackupDeps } from '../image/backup.ts';
import { runOffhostBackup } from './offhost-backup.ts';
import { PACKAGED_AGENT_SCRIPT } from '../agent-script.ts';

const run = promisify(execFile);

/** Where one selection's frozen image is: its read-only mount, its block device, and where the selection reads in it. */
export interface FrozenSource {
  readRoot: string;
  device: string;
  sourceRoot: string;
}

/**
 * The backup command of a policy with `backupMethod: offhost`, in both
 * runtimes (runBackupOnUnit): finds the one frozen image on a block device
 * the selections are on (frozenSourceOf), and runs runOffhostBackup with
 * the data mover on this host (moverCommand). 156 when a selection has no
 * such image, or when they are on more than one device (nothing written:
 * the mapper and the mover have not started); 20 for a tape unit (the mover
 * writes to disk and S3 units only).
 */
export async function runOffhostTask(task: BackupTask, deps: Pick<BackupDeps, 'reporter' | 'signal'>): Promise<BackupTaskResult> {
  if (task.tape !== undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `offhost backup to tape unit ${task.storageUnit.name}: the data mover writes to disk and S3 units only`);
  const sources = await Promise.all(task.selections.map((selection) => frozenSourceOf(selection, task.snapshots?.images ?? [])));
  // One map and one mover a job: the map's head names one device. Several devices would need several images (or map
  // heads) a job; until then such a policy is refused, so the operator splits it rather than getting part of it.
  const devices = [...new Set(sources.map((s) => `${s.device} on ${s.readRoot}`))];
  if (devices.length > 1) {
    throw new CairnError(StatusCode.SNAPSHOT_ERROR, `offhost backup maps one frozen image a job, and these selections are on ${devices.length}: ${devices.join('; ')} (split them into one policy per device)`, {
      details: task.selections.map((s, i) => `${s}: ${sources[i]!.device} on ${sources[i]!.readRoot}`),
    });
  }
  const { readRoot, device } = sources[0]!;
  const sourceRoots = Object.fromEntries(task.selections.map((s, i) => [s, sources[i]!.sourceRoot]));
  const workDir = await mkdtemp(path.join(tmpdir(), `cairn-offhost-${task.jobId}-`));
  try {
    const { result } = await runOffhostBackup({ task, readRoot, device, sourceRoots, workDir, mover: { command: moverCommand() }, reporter: deps.reporter, signal: deps.signal });
    return result;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Where a selection's frozen image is, for an offhost map: the job's frozen
 * image covering it whose handle names its block device (an LVM snapshot:
 * `handle.device`, mounted read-only at its readRoot), or else the
 * selection's own file system when it is mounted from a block device (the
 * mapper then checks it is mounted read-only, on ext2/3/4 or xfs, and
 * refuses with 156 saying why when not). 156 when neither: a btrfs or ZFS
 * image, or a file system not on a block device (tmpfs, overlay, NFS).
 */
export async function frozenSourceOf(selection: string, images: readonly FrozenImage[]): Promise<FrozenSource> {
  const needs = (why: string): CairnError => new CairnError(StatusCode.SNAPSHOT_ERROR, `offhost backup of ${selection} needs a frozen image on a block device: ${why}`);
  if (selection === ALL_LOCAL_FILE_SYSTEMS) throw needs('ALL stands for every local file system, and an offhost job maps one device (name its mount point instead)');
  const image = coveringImage(selection, images);
  if (image !== undefined) {
    const device = image.handle.device;
    if (device === undefined) throw needs(`its ${image.method} snapshot ${image.name} is not on a block device of its own (take an LVM snapshot, or remount the file system read-only, with snapshot: none)`);
    return { readRoot: image.readRoot, device, sourceRoot: readPathOf(selection, images) };
  }
  let mount: { target: string; source: string; fstype: string };
  try {
    // JSON, so names with blanks need no unescaping (as mapper.ts and edge-agent/snapshot/mount-of.ts read it).
    const { stdout } = await run('findmnt', ['-J', '-T', selection, '-o', 'TARGET,SOURCE,FSTYPE']);
    mount = (JSON.parse(stdout) as { filesystems: Array<{ target: string; source: string; fstype: string }> }).filesystems[0]!;
  } catch (error) {
    throw needs(`cannot find its mount (findmnt): ${error instanceof Error ? error.message.trim() : String(error)}`);
  }
  const source = mount.source.replace(/\[[^\]]*\]$/, '');
  const isBlock = source.startsWith('/') && (await stat(source).then((s) => s.isBlockDevice(), () => false));
  if (!isBlock) throw needs(`no snapshot of the job covers it, and its file system (${mount.fstype} on ${mount.target}) is mounted from ${source}, not a block device`);
  return { readRoot: mount.target, device: source, sourceRoot: selection };
}

/** The job's image of the deepest volume root containing `selection` (as readPathOf picks it). */
function coveringImage(selection: string, images: readonly FrozenImage[]): FrozenImage | undefined {
  let best: FrozenImage | undefined;
  for (const image of images) {
    const root = image.sourceRoot;
    const inside = selection === root || selection.startsWith(root.endsWith('/') ? root : `${root}/`);
    if (inside && (best === undefined || root.length > best.sourceRoot.length)) best = image;
  }
  return best;
}

/**
 * How the agent starts the data mover on its own host: `CAIRN_MOVER_COMMAND`
 * (a JSON array, e.g. an ssh to the host that sees the device) when set;
 * else `cairn-agent mover` through this Node: the running agent's script
 * (`cairn-agent run-task`), the `cairn-agent.js` beside the running `cairn`
 * (the standalone runtime), or the checkout's bin/cairn-agent.js (tests).
 */
export function moverCommand(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv): string[] {
  const given = env.CAIRN_MOVER_COMMAND;
  if (given !== undefined && given !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(given);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((p) => typeof p === 'string')) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `CAIRN_MOVER_COMMAND must be a JSON array of strings (the command and its first arguments), not ${given}`);
    return parsed as string[];
  }
  const script = argv[1];
  const candidates = [
    script !== undefined && path.basename(script).startsWith('cairn-agent') ? script : undefined,
    script === undefined ? undefined : path.join(path.dirname(script), 'cairn-agent.js'),
    PACKAGED_AGENT_SCRIPT,
  ];
  const found = candidates.find((c) => c !== undefined && existsSync(c));
  if (found === undefined) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'offhost backup: cannot find cairn-agent to start the data mover; set CAIRN_MOVER_COMMAND');
  return [process.execPath, found, 'mover'];
}
