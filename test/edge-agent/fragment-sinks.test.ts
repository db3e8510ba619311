import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodingFragmentSource } from '#agent/codec/zstd-fragment-source.ts';
import { runBackup } from '#agent/image/backup.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { TarMembersVerifier } from '#agent/image/fragment-digest.ts';
import { CairnError, NotFoundError } from '#core/errors.ts';
import type { FragmentLocation } from '#core/model/image.ts';
import type { FragmentSink, FragmentSinks, FragmentSource, WrittenFragment } from '#core/ports/fragment-sink.ts';
import { StatusCode } from '#core/status-codes.ts';
import { FsObjectStore } from '#agent/disk/fs-object-store.ts';
import { backupTask, catalogImage, patterned, recordingReporter, snapshotTree, tempDir } from './helpers.ts';

/**
 * A volume in memory with tape's end-of-media behaviour: past `capacity`
 * bytes (its early-warning mark) it reports end of media but still takes
 * the rest of the fragment being written. Each fragment is one tape file.
 */
class MemoryVolume implements FragmentSink {
  written = 0;
  readonly files: Buffer[] = [];
  readonly discarded: FragmentLocation[] = [];
  constructor(
    readonly mediaId: string,
    readonly capacity: number,
  ) {}

  get endOfMedia(): boolean {
    return this.written >= this.capacity;
  }

  async write(_number: number, body: AsyncIterable<Uint8Array>): Promise<WrittenFragment> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      // The chunks are pooled buffers: copy, never keep.
      chunks.push(Buffer.from(chunk));
      this.written += chunk.byteLength;
    }
    const bytes = Buffer.concat(chunks);
    this.files.push(bytes);
    return { location: { kind: 'tape', mediaId: this.mediaId, fileNumber: this.files.length, blockOffset: 0 }, bytes: bytes.length };
  }

  async discard(location: FragmentLocation): Promise<void> {
    this.discarded.push(location);
  }
}

/** A shelf of `volumes` memory volumes handed out in order, as a library would mount scratch media. */
function shelf(volumes: number, capacity: number): FragmentSinks & { mounted: MemoryVolume[]; source: FragmentSource } {
  const mounted: MemoryVolume[] = [];
  const mount = async (): Promise<MemoryVolume> => {
    if (mounted.length >= volumes) throw new CairnError(StatusCode.UNABLE_TO_ALLOCATE_MEDIA, `no scratch volume left after ${volumes}`);
    const volume = new MemoryVolume(`MEM${String(mounted.length + 1).padStart(3, '0')}`, capacity);
    mounted.push(volume);
    return volume;
  };
  return {
    mounted,
    first: mount,
    next: mount,
    source: {
      read: async (fragment) => {
        const { location } = fragment;
        const file = location.kind === 'tape' ? mounted.find((v) => v.mediaId === location.mediaId)?.files[location.fileNumber - 1] : undefined;
        if (!file) throw new NotFoundError('object', `fragment ${fragment.number}`);
        return (async function* () {
          yield file;
        })();
      },
    },
  };
}

const KiB = 1024;

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return chunks;
}

describe('a backup written through fragment sinks', () => {
  let source: ReturnType<typeof tempDir>;
  const scratch: ReturnType<typeof tempDir>[] = [];
  beforeAll(() => {
    source = tempDir('sinks-src');
    for (let i = 0; i < 40; i++) {
      const dir = path.join(source.dir, `d${i % 4}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `f${i}.bin`), patterned(20 * KiB + i * 37, i + 1));
    }
  });
  afterAll(() => {
    source.cleanup();
    for (const dir of scratch) dir.cleanup();
  });
  const unit = (): string => {
    const dir = tempDir('sinks-unit');
    scratch.push(dir);
    return dir.dir;
  };

  it('spans several volumes at end of media, closing fragments at member boundaries, and restores byte for byte', async () => {
    // Prepare: 64 KiB to the early-warning mark, about 830 KiB of tar.
    const dir = unit();
    const store = new FsObjectStore(dir);
    const volumes = shelf(50, 64 * KiB);
    const task = backupTask(dir, [source.dir], { buffers: { count: 4, sizeBytes: 16 * KiB } });

    // Act
    const result = await runBackup(task, { store, sinks: volumes, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const target = path.join(unit(), 'target');
    const restored = await restoreImage({ store, image, targetDir: target, fragmentSource: volumes.source });

    // Assess
    expect(volumes.mounted.length).toBeGreaterThanOrEqual(3);
    expect(result.fragments.map((f) => f.number)).toEqual(result.fragments.map((_, i) => i + 1));
    // One fragment per volume: end of media closes it, the next one starts on the next volume.
    expect(result.fragments.map((f) => f.location)).toEqual(volumes.mounted.map((v) => ({ kind: 'tape', mediaId: v.mediaId, fileNumber: 1, blockOffset: 0 })));
    for (const volume of volumes.mounted.slice(0, -1)) expect(volume.written).toBeGreaterThanOrEqual(volume.capacity);
    for (const [i, fragment] of result.fragments.entries()) {
      const file = volumes.mounted[i]!.files[0]!;
      // The checksum is the writer's, whatever the sink: recomputed from the bytes the volume holds.
      expect(fragment).toMatchObject({ bytes: file.length, checksum: 'tar-members-1', sha256: new TarMembersVerifier().update(file).digest() });
    }
    expect(restored.failures).toEqual([]);
    expect(restored.verified).toBe(40);
    const before = snapshotTree(source.dir);
    const after = snapshotTree(path.join(target, source.dir));
    expect([...after.keys()]).toEqual([...before.keys()]);
    // Buffer.equals: a deep toEqual of every byte takes seconds.
    for (const [relative, node] of before) expect(node.content === undefined || after.get(relative)?.content?.equals(node.content), relative).toBe(true);
  });

  it('fails with 96 when end of media comes and no volume is left, and discards what it wrote', async () => {
    // Prepare
    const dir = unit();
    const volumes = shelf(2, 64 * KiB);
    const task = backupTask(dir, [source.dir], { buffers: { count: 4, sizeBytes: 16 * KiB } });

    // Act
    const failure = await runBackup(task, { store: new FsObjectStore(dir), sinks: volumes, reporter: recordingReporter(), now: () => new Date() }).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).statusCode).toBe(StatusCode.UNABLE_TO_ALLOCATE_MEDIA);
    expect(volumes.mounted.flatMap((v) => v.discarded)).toEqual(volumes.mounted.flatMap((v) => v.files.map((_, i) => ({ kind: 'tape', mediaId: v.mediaId, fileNumber: i + 1, blockOffset: 0 }))));
    expect(volumes.mounted.map((v) => v.files.length)).toEqual([1, 1]);
  });

  it('refuses to restore a fragment on tape from an object storage unit, naming where it is', async () => {
    // Prepare: an image whose fragments are on tape, restored the default way (objects in its storage unit).
    const dir = unit();
    const store = new FsObjectStore(dir);
    const volumes = shelf(50, 64 * KiB);
    const task = backupTask(dir, [source.dir], { buffers: { count: 4, sizeBytes: 16 * KiB } });
    const image = catalogImage(task, await runBackup(task, { store, sinks: volumes, reporter: recordingReporter(), now: () => new Date() }));

    // Act
    const failure = await restoreImage({ store, image, targetDir: path.join(unit(), 'target') }).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(CairnError);
    expect((failure as CairnError).statusCode).toBe(StatusCode.STORAGE_UNIT_UNAVAILABLE);
    expect((failure as CairnError).message).toBe('fragment 1 (media MEM001, file 1, block 0) is on tape, and this agent cannot read tape yet; storage unit disk1 holds objects only');
  });

  it('spans volumes with compressed fragments too: the compressing sinks pass end of media and the next volume through', async () => {
    // Prepare: 12 MiB of incompressible files, 3 MiB to each volume's early-warning mark. Compressed bytes reach
    // the volume a few batches behind the tar stream, so a volume overshoots its mark by up to about 5 MiB.
    const big = tempDir('sinks-zsrc');
    scratch.push(big);
    for (let i = 0; i < 24; i++) writeFileSync(path.join(big.dir, `r${String(i).padStart(2, '0')}.bin`), randomBytes(512 * KiB));
    const dir = unit();
    const store = new FsObjectStore(dir);
    const volumes = shelf(50, 3 * 1024 * KiB);
    const task = backupTask(dir, [big.dir], { storageUnit: { name: 'disk1', kind: 'disk', path: dir, fragmentSizeBytes: 64 * 1024 * KiB, compression: { codec: 'zstd', level: 1 } } });

    // Act
    const result = await runBackup(task, { store, sinks: volumes, reporter: recordingReporter(), now: () => new Date() });
    const image = catalogImage(task, result);
    const onVolumes = decodingFragmentSource(async (fragment, range) => {
      const file = Buffer.concat(await collect(await volumes.source.read(fragment)));
      return (async function* () {
        yield range === undefined ? file : file.subarray(range.start, range.end);
      })();
    });
    const restored = await restoreImage({ store, image, targetDir: path.join(unit(), 'target'), fragmentSource: onVolumes });

    // Assess
    expect(volumes.mounted.length).toBeGreaterThanOrEqual(2);
    expect(result.fragments.map((f) => f.location)).toEqual(volumes.mounted.map((v) => ({ kind: 'tape', mediaId: v.mediaId, fileNumber: 1, blockOffset: 0 })));
    for (const [i, fragment] of result.fragments.entries()) {
      const file = volumes.mounted[i]!.files[0]!;
      expect(fragment).toMatchObject({ bytes: file.length, checksum: 'tar-members-1', encoding: { codec: 'zstd-seekable' } });
    }
    expect(restored.failures).toEqual([]);
    expect(restored.verified).toBe(24);
  });
});
