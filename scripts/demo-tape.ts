/**
 * `npm run demo:tape`: the tape side of Cairn end to end, as an operator
 * runs it, on a virtual library (Debian bacula-sd's disk-changer script with
 * file tapes): 2 drives and 8 small volumes, a backup that spans at least 3
 * volumes, a restore job compared byte for byte with the source, GNU tar
 * reading every fragment straight from its volume file at its recorded
 * offset, and the media list. Every step is a real `cairn` process (with
 * --json) against a Cairn home of its own, so the operator's own home is
 * untouched. Exits 0 only when all of it holds.
 *
 *   npm run demo:tape [-- --keep] [-- --json]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { makeSampleTree } from '../cli/demo/sample-tree.ts';
import { compareTrees } from '../cli/demo/compare-trees.ts';
import { fileTapeByteOffset } from '../edge-agent/tape/drives/file-tape-format.ts';

const DISK_CHANGER = '/etc/bacula/scripts/disk-changer';
const VOLUMES = 8;
const VOLUME_BYTES = 12 * 1024 * 1024;
const BLOCK_SIZE = 64 * 1024;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const json = args.has('--json');
const keep = args.has('--keep');
const say = (line: string): void => {
  if (!json) console.log(line);
};

interface Fragment {
  bytes: number;
  location: { kind: string; mediaId?: string; fileNumber?: number; blockOffset?: number };
}

/** One `cairn` command in the demo's own home; its --json output parsed. A failure stops the demo with the command's own message. */
function cairn<T = unknown>(home: string, ...command: string[]): T {
  const run = spawnSync(process.execPath, [join(root, 'bin', 'cairn.js'), '--home', home, ...command, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`cairn ${command.join(' ')} exited ${run.status}: ${run.stderr.trim() || run.stdout.trim()}`);
  return JSON.parse(run.stdout) as T;
}

/** The tar archive of a fragment, read straight from the volume file at the fragment's recorded position. */
function fragmentBytes(volumeFile: string, fragment: Fragment): Buffer {
  const offset = fileTapeByteOffset({ fileNumber: fragment.location.fileNumber!, block: fragment.location.blockOffset!, blockSize: BLOCK_SIZE });
  const data = Buffer.alloc(fragment.bytes);
  const fd = openSync(volumeFile, 'r');
  try {
    let done = 0;
    while (done < data.length) {
      const read = readSync(fd, data, done, data.length - done, offset + done);
      if (read === 0) throw new Error(`${volumeFile} ends before fragment ${fragment.location.mediaId} file ${fragment.location.fileNumber}`);
      done += read;
    }
  } finally {
    closeSync(fd);
  }
  return data;
}

async function main(): Promise<number> {
  if (!existsSync(DISK_CHANGER)) {
    console.error(`demo:tape needs Debian's bacula-sd package for ${DISK_CHANGER} (apt-get install bacula-sd mtx)`);
    return 2;
  }
  const work = mkdtempSync(join(tmpdir(), 'cairn-demo-tape-'));
  const home = join(work, 'home');
  const vtl = join(work, 'vtl');
  let failed = false;
  try {
    mkdirSync(vtl);
    writeFileSync(join(vtl, 'changer.conf'), `maxslot=${VOLUMES}\nmaxdrive=1\n`);
    writeFileSync(join(vtl, 'barcodes'), Array.from({ length: VOLUMES }, (_, i) => `${i + 1}:DEMO0${i + 1}\n`).join(''));
    for (let slot = 1; slot <= VOLUMES; slot++) writeFileSync(join(vtl, `slot${slot}`), '');
    cairn(home, 'robot', 'add', 'vtl', '--changer-script', DISK_CHANGER, '--changer-device', join(vtl, 'changer.conf'), '--drive', join(vtl, 'drive0'), '--drive', join(vtl, 'drive1'), '--block-size', '64K', '--file-tape-capacity', `${VOLUME_BYTES / 1024 / 1024}M`);
    const inventory = cairn<{ added: unknown[] }>(home, 'robot', 'inventory', 'vtl');
    say(`1. virtual library ${vtl}: disk-changer, 2 drives, ${VOLUMES} volumes of ${VOLUME_BYTES / 1024 / 1024} MiB; inventory put ${inventory.added.length} in the scratch pool`);

    cairn(home, 'pool', 'add', 'demo');
    cairn(home, 'storage-unit', 'add', '--name', 'demo-index', '--kind', 'disk', '--path', join(work, 'index'));
    cairn(home, 'storage-unit', 'add', '--name', 'demo-tape', '--kind', 'tape', '--robot', 'vtl', '--pool', 'demo', '--index-unit', 'demo-index', '--fragment-mib', '4', '--piece-mib', '1');
    say('2. pool demo, storage unit demo-tape (file indexes on disk unit demo-index)');

    const source = join(work, 'source');
    const sample = makeSampleTree(source);
    // A file bigger than a whole volume: it is written in pieces across volumes.
    const big = randomBytes(VOLUME_BYTES + 3 * 1024 * 1024 + 11);
    writeFileSync(join(source, 'bigger-than-a-volume.bin'), big);
    const sourceBytes = sample.bytes + big.length;
    say(`3. sample tree ${source}: ${sample.files + 1} files, ${(sourceBytes / 1024 / 1024).toFixed(1)} MiB, one file bigger than a volume`);

    const backup = cairn<{ jobId: number; statusCode: number; backupId?: string; error?: string }>(home, 'backup', '--client', 'demo-client', '--path', source, '--storage-unit', 'demo-tape');
    if (backup.statusCode !== 0 || !backup.backupId) throw new Error(`the backup ended with status ${backup.statusCode}: ${backup.error ?? ''}`);
    const image = cairn<{ backupId: string; fragments: Fragment[] }[]>(home, 'images', '--client', 'demo-client').find((i) => i.backupId === backup.backupId);
    if (!image) throw new Error(`image ${backup.backupId} is not in the catalog`);
    const volumes = [...new Set(image.fragments.map((f) => f.location.mediaId))];
    say(`4. job ${backup.jobId} DONE, status 0: image ${image.backupId}, ${image.fragments.length} fragments on ${volumes.length} volumes (${volumes.join(', ')})`);
    if (volumes.length < 3) throw new Error(`the backup should span at least 3 volumes; it used ${volumes.length}`);

    const target = join(work, 'restore');
    const restore = cairn<{ jobId?: number; files: number; bytes: number }>(home, 'restore', '--backup-id', image.backupId, '--to', target);
    const comparison = await compareTrees(source, join(target, source));
    if (comparison.differences.length > 0) throw new Error(`the restore differs from the source: ${JSON.stringify(comparison.differences.slice(0, 5))}`);
    say(`5. restore${restore.jobId ? ` job ${restore.jobId}` : ''}: ${restore.files} entries; compared byte for byte: ${comparison.files} files, ${comparison.directories} directories, ${comparison.symlinks} symlinks`);

    const mediaFiles = new Map<string, string>(Array.from({ length: VOLUMES }, (_, i) => [`DEMO0${i + 1}`, join(vtl, `slot${i + 1}`)]));
    let members = 0;
    for (const fragment of image.fragments) {
      const file = mediaFiles.get(fragment.location.mediaId!)!;
      members += execFileSync('tar', ['-tf', '-'], { input: fragmentBytes(file, fragment), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n').filter(Boolean).length;
    }
    say(`6. GNU tar lists every fragment read straight from its volume file at its recorded offset: ${image.fragments.length} fragments, ${members} members`);

    const media = cairn<{ mediaId: string; state: string; pool?: string; bytesWritten?: number; tapeFiles?: number }[]>(home, 'media', 'list', '--robot', 'vtl');
    if (!json) {
      console.log('7. media list:');
      console.log(execFileSync(process.execPath, [join(root, 'bin', 'cairn.js'), '--home', home, 'media', 'list', '--robot', 'vtl'], { encoding: 'utf8' }).trimEnd());
    }
    if (json) console.log(JSON.stringify({ ok: true, jobId: backup.jobId, backupId: image.backupId, volumes, fragments: image.fragments.length, restored: restore, comparison, gnuTarMembers: members, media, work: keep ? work : undefined }, null, 2));
    else say(`demo:tape passed: the image spans ${volumes.length} volumes and restores byte for byte${keep ? `; kept in ${work} (cairn --home ${home} ...)` : ''}`);
    return 0;
  } catch (error) {
    failed = true;
    console.error(`demo:tape failed: ${error instanceof Error ? error.message : String(error)}`);
    console.error(`(kept ${work} for a look: cairn --home ${home} jobs)`);
    return 1;
  } finally {
    if (!keep && !failed) rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
