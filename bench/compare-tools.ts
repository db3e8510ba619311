/**
 * The tools `bench:compare` runs side by side, each driven through its
 * command line the way an operator would: full backup, day-2 differential
 * incremental, full restore of the day-1 backup, restore of one file.
 *
 * Durability: a peer's backup ends with `sync -f` of its archive or
 * repository (a syncfs of that file system, as `tar -cf && sync` does), and
 * is timed with it. Cairn's backup is not followed by a sync: its disk
 * storage unit fsyncs every object and its directory before the job ends
 * (edge-agent/disk/fs-object-store.ts), so its time already includes
 * durability of the image; its catalog (SQLite, WAL, synchronous=NORMAL)
 * makes the image's record durable at the next WAL sync, not at commit. Restores do not fsync in any tool, so every restore is timed
 * with a `sync -f` of its target, Cairn's too.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandExists, quote, step, storedBytes, type StepCost } from './compare-shell.ts';

export interface StepResult extends StepCost {
  /** Bytes the step added to the backup store (archive, repository, storage unit); 0 for restores. */
  stored: number;
  /** What the tool's own report says about the step, when it says something worth keeping. */
  detail?: Record<string, number | string>;
}

export interface Tool {
  name: string;
  /** Why the tool is skipped (not installed), if it is. */
  missing(): string | undefined;
  /** Removes what the tool wrote, so the next `full` starts from nothing (bench:compare runs the full backup twice). */
  reset(): void;
  full(): StepResult;
  dayTwo(): StepResult;
  /** Restores the day-1 backup into an empty `target`; returns the result and where the dataset landed in it. */
  restore(target: string): StepResult & { dataDir: string };
  /** Restores one file of the day-1 backup (`rel` under the dataset) into an empty `target`; returns where the file landed. */
  restoreOne(target: string, rel: string): StepResult & { file: string };
}

export interface ToolContext {
  /** The dataset root (absolute). */
  data: string;
  /** This tool's own scratch directory. */
  work: string;
}

const CAIRN_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/cairn.js');

function ioFile(context: ToolContext): string {
  return path.join(context.work, 'step.io');
}

/** GNU tar, plain or piped through `zstd -1 -T0`; incrementals with `--listed-incremental` from a copy of the level-0 snapshot file. */
export function tarTool(context: ToolContext, zstd: boolean): Tool {
  const parent = path.dirname(context.data);
  const member = path.basename(context.data);
  const ext = zstd ? 'tar.zst' : 'tar';
  const archive = (name: string): string => path.join(context.work, `${name}.${ext}`);
  const create = (name: string, snar: string): StepResult => {
    const out = archive(name);
    const sink = zstd ? `| zstd -1 -T0 -q -o ${quote(out)}` : '';
    const target = zstd ? '-' : quote(out);
    const cost = step(`tar -cf ${target} --listed-incremental=${quote(snar)} -C ${quote(parent)} ${quote(member)} ${sink} && sync -f ${quote(out)}`, { ioFile: ioFile(context) });
    return { ...cost, stored: storedBytes(out) };
  };
  const extract = (target: string, members: string[]): StepCost => {
    const source = zstd ? `zstd -dc -q ${quote(archive('full'))} | tar -xf -` : `tar -xf ${quote(archive('full'))}`;
    return step(`${source} -C ${quote(target)} ${members.map(quote).join(' ')} && sync -f ${quote(target)}`, { ioFile: ioFile(context) });
  };
  return {
    name: zstd ? 'tar | zstd -1 -T0' : 'tar',
    missing: () => (commandExists('tar') ? (zstd && !commandExists('zstd') ? 'zstd not installed' : undefined) : 'tar not installed'),
    reset: () => rmSync(context.work, { recursive: true, force: true }),
    full: () => {
      mkdirSync(context.work, { recursive: true });
      return create('full', path.join(context.work, 'full.snar'));
    },
    dayTwo: () => {
      // A differential: always against the level-0 state, so the snapshot file is copied, not reused.
      copyFileSync(path.join(context.work, 'full.snar'), path.join(context.work, 'day2.snar'));
      return create('day2', path.join(context.work, 'day2.snar'));
    },
    restore: (target) => ({ ...extract(target, []), stored: 0, dataDir: path.join(target, member) }),
    restoreOne: (target, rel) => ({ ...extract(target, [path.join(member, rel)]), stored: 0, file: path.join(target, member, rel) }),
  };
}

/** restic with its defaults (repository v2, compression auto); password from a file; cache inside the scratch directory. */
export function resticTool(context: ToolContext): Tool {
  const repo = path.join(context.work, 'repo');
  const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: path.join(context.work, 'password'), RESTIC_CACHE_DIR: path.join(context.work, 'cache') };
  const run = (script: string): StepCost => step(script, { env, ioFile: ioFile(context) });
  const backup = (tag: string): StepResult => {
    const before = storedBytes(repo);
    const cost = run(`restic backup -q --host bench --tag ${tag} ${quote(context.data)} && sync -f ${quote(repo)}`);
    return { ...cost, stored: storedBytes(repo) - before };
  };
  return {
    name: 'restic',
    missing: () => (commandExists('restic') ? undefined : 'restic not installed (apt-get install restic)'),
    reset: () => rmSync(context.work, { recursive: true, force: true }),
    full: () => {
      mkdirSync(context.work, { recursive: true });
      writeFileSync(path.join(context.work, 'password'), 'bench-compare-password\n', { mode: 0o600 });
      run('restic init -q');
      return backup('day1');
    },
    dayTwo: () => backup('day2'),
    restore: (target) => ({ ...run(`restic restore -q latest --host bench --tag day1 --target ${quote(target)} && sync -f ${quote(target)}`), stored: 0, dataDir: path.join(target, context.data) }),
    restoreOne: (target, rel) => {
      const file = path.join(context.data, rel);
      return { ...run(`restic restore -q latest --host bench --tag day1 --target ${quote(target)} --include ${quote(file)} && sync -f ${quote(target)}`), stored: 0, file: path.join(target, file) };
    },
  };
}

/** borg 1.x, unencrypted repository, lz4; its config and cache inside the scratch directory. */
export function borgTool(context: ToolContext): Tool {
  const repo = path.join(context.work, 'repo');
  const env = { BORG_BASE_DIR: path.join(context.work, 'home'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' };
  const run = (script: string, cwd?: string): StepCost => step(script, { env, cwd, ioFile: ioFile(context) });
  const create = (archive: string): StepResult => {
    const before = storedBytes(repo);
    const cost = run(`borg create --compression lz4 ${quote(`${repo}::${archive}`)} ${quote(context.data)} && sync -f ${quote(repo)}`);
    return { ...cost, stored: storedBytes(repo) - before };
  };
  const relData = context.data.replace(/^\/+/, '');
  return {
    name: 'borg lz4',
    missing: () => (commandExists('borg') ? undefined : 'borg not installed (apt-get install borgbackup)'),
    reset: () => rmSync(context.work, { recursive: true, force: true }),
    full: () => {
      mkdirSync(context.work, { recursive: true });
      run(`borg init -e none ${quote(repo)}`);
      return create('day1');
    },
    dayTwo: () => create('day2'),
    // borg extracts into the working directory, paths without their leading slash.
    restore: (target) => ({ ...run(`borg extract ${quote(`${repo}::day1`)} && sync -f .`, target), stored: 0, dataDir: path.join(target, relData) }),
    restoreOne: (target, rel) => ({ ...run(`borg extract ${quote(`${repo}::day1`)} ${quote(path.join(relData, rel))} && sync -f .`, target), stored: 0, file: path.join(target, relData, rel) }),
  };
}

interface CairnBackupJson {
  statusCode: number;
  backupId?: string;
  job?: { queuedAt?: string; startedAt?: string; endedAt?: string; level?: string; progress?: { files: number; bytes: number; writerWaits?: number; readerWaits?: number } };
}

/**
 * Cairn through its CLI on the standalone runtime: `cairn backup --policy
 * bench --schedule full|incr` into a disk storage unit, `cairn restore`.
 * The CLI and not runBackup: this is the path an operator runs (job engine,
 * catalog, the in-process agent), and the issue's figures are of it; the
 * job's own start-to-end time is kept beside the wall time, so CLI start-up
 * is visible. Peak RSS of the backup comes from /usr/bin/time.
 * `compression: 'zstd'` makes the storage unit compress (zstd level 1,
 * the compression goal's run, next to `tar | zstd -1 -T0`).
 */
export function cairnTool(context: ToolContext, options: { compression?: 'zstd' } = {}): Tool & { backupIds: string[]; home: string } {
  const home = path.join(context.work, 'home');
  const unit = path.join(context.work, 'unit');
  const backupIds: string[] = [];
  const cli = (args: string): string => `${quote(process.execPath)} ${quote(CAIRN_BIN)} --home ${quote(home)} ${args}`;
  const run = (script: string): StepCost => step(script, { ioFile: ioFile(context) });
  const backup = (schedule: string): StepResult => {
    const rssFile = path.join(context.work, 'rss');
    const startedMs = Date.now();
    const cost = run(`/usr/bin/time -f %M -o ${quote(rssFile)} ${cli(`backup --client bench --policy bench --schedule ${schedule} --json`)}`);
    const outcome = JSON.parse(cost.stdout) as CairnBackupJson;
    if (outcome.statusCode !== 0 || !outcome.backupId) throw new Error(`cairn backup ended with status ${outcome.statusCode}: ${cost.stdout.slice(0, 2000)}`);
    backupIds.push(outcome.backupId);
    const job = outcome.job;
    const jobSeconds = job?.startedAt && job.endedAt ? (Date.parse(job.endedAt) - Date.parse(job.startedAt)) / 1000 : NaN;
    // Where the wall time outside the job goes: before it was queued (CLI start-up, janitor, engine start), after it ended (outcome, close, exit).
    const beforeJobSeconds = job?.queuedAt ? (Date.parse(job.queuedAt) - startedMs) / 1000 : NaN;
    const afterJobSeconds = job?.endedAt ? (startedMs + cost.seconds * 1000 - Date.parse(job.endedAt)) / 1000 : NaN;
    return {
      ...cost,
      stored: storedBytes(path.join(unit, 'images/bench', outcome.backupId)),
      detail: {
        backupId: outcome.backupId,
        jobSeconds,
        beforeJobSeconds,
        afterJobSeconds,
        peakRssMB: Math.round((Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) * 1024) / 1e6),
        writerWaits: job?.progress?.writerWaits ?? NaN,
        readerWaits: job?.progress?.readerWaits ?? NaN,
      },
    };
  };
  return {
    name: options.compression ? `Cairn ${options.compression}` : 'Cairn',
    home,
    backupIds,
    missing: () => undefined,
    reset: () => {
      rmSync(context.work, { recursive: true, force: true });
      backupIds.length = 0;
    },
    full: () => {
      mkdirSync(context.work, { recursive: true });
      writeFileSync(path.join(context.work, 'policy.yaml'), policyYaml(context.data));
      const compression = options.compression ? ` --compression ${options.compression}` : '';
      run(`${cli(`storage-unit add --name bench-disk --kind disk --path ${quote(unit)}${compression}`)} >/dev/null && ${cli(`policy apply -f ${quote(path.join(context.work, 'policy.yaml'))}`)} >/dev/null`);
      return backup('full');
    },
    dayTwo: () => backup('incr'),
    restore: (target) => ({ ...run(`${cli(`restore --backup-id ${backupIds[0]} --to ${quote(target)} --json`)} >/dev/null && sync -f ${quote(target)}`), stored: 0, dataDir: path.join(target, context.data) }),
    restoreOne: (target, rel) => {
      const file = path.join(context.data, rel);
      return { ...run(`${cli(`restore --backup-id ${backupIds[0]} --to ${quote(target)} --path ${quote(file)} --json`)} >/dev/null && sync -f ${quote(target)}`), stored: 0, file: path.join(target, file) };
    },
  };
}

/** One policy, one client, a full and a differential-incremental schedule; the windows do not matter, backups are started by hand. */
function policyYaml(data: string): string {
  return [
    'name: bench',
    'timeZone: UTC',
    'storageUnit: bench-disk',
    'clients: [{ name: bench }]',
    `selections: [${JSON.stringify(data)}]`,
    'schedules:',
    '  - name: full',
    '    type: full',
    '    frequency: 1w',
    '    windows: [{ days: [sun], start: "00:00", duration: 1h }]',
    '    retention: { days: 7 }',
    '  - name: incr',
    '    type: differential-incremental',
    '    frequency: 1d',
    '    windows: [{ days: [sun], start: "00:00", duration: 1h }]',
    '    retention: { days: 7 }',
    '',
  ].join('\n');
}

export function emptyDir(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}
