import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TapeError, type TapeDrive } from '#core/ports/tape-drive.ts';
import { FileTape } from '#agent/tape/drives/file-tape.ts';

const BLOCK_SIZE = 512;

/**
 * The reference: a tape as a list of items (a record with its id, or a
 * filemark) and a position that is an index into it. A logical block is an
 * index; the file number counts the filemarks before it; a write or a
 * filemark cuts the list at the position. That is all st's model is.
 */
type Item = { kind: 'record'; id: number } | { kind: 'filemark' };
class ModelTape {
  items: Item[] = [];
  at = 0;

  fileNumber(): number {
    return this.items.slice(0, this.at).filter((item) => item.kind === 'filemark').length;
  }

  blockInFile(): number {
    let count = 0;
    for (let i = this.at - 1; i >= 0 && this.items[i]!.kind === 'record'; i -= 1) count += 1;
    return count;
  }
}

type Op =
  | { op: 'write'; count: number }
  | { op: 'marks'; count: number }
  | { op: 'read' }
  | { op: 'rewind' }
  | { op: 'fsf'; count: number }
  | { op: 'bsf'; count: number }
  | { op: 'eod' }
  | { op: 'seek'; block: number }
  | { op: 'reload' };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('marks' as const), count: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 4, arbitrary: fc.constant({ op: 'read' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'rewind' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fsf' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('bsf' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'eod' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('seek' as const), block: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reload' as const }) },
);

/** Runs one operation on both; returns what each reports, to be compared. */
async function step(volume: string, tape: { drive: FileTape }, model: ModelTape, op: Op, nextId: () => number): Promise<[unknown, unknown]> {
  const drive: TapeDrive = tape.drive;
  const fault = (error: unknown): string => (error instanceof TapeError ? `fault ${error.fault}` : `threw ${String(error)}`);
  switch (op.op) {
    case 'write': {
      const ids = Array.from({ length: op.count }, nextId);
      const data = Buffer.alloc(op.count * BLOCK_SIZE);
      ids.forEach((id, i) => data.writeUInt32LE(id, i * BLOCK_SIZE));
      await drive.writeRecords(data);
      model.items = [...model.items.slice(0, model.at), ...ids.map((id) => ({ kind: 'record' as const, id }))];
      model.at += op.count;
      return ['ok', 'ok'];
    }
    case 'marks':
      await drive.writeFilemarks(op.count);
      model.items = [...model.items.slice(0, model.at), ...Array.from({ length: op.count }, () => ({ kind: 'filemark' as const }))];
      model.at += op.count;
      return ['ok', 'ok'];
    case 'read': {
      const buffer = Buffer.alloc(BLOCK_SIZE);
      const read = await drive.readRecord(buffer);
      const got = read.kind === 'record' ? `record ${buffer.readUInt32LE(0)}` : read.kind;
      const item = model.items[model.at];
      if (item) model.at += 1;
      return [got, item === undefined ? 'end-of-data' : item.kind === 'record' ? `record ${item.id}` : 'filemark'];
    }
    case 'rewind':
      await drive.rewind();
      model.at = 0;
      return ['ok', 'ok'];
    case 'eod':
      await drive.seekEndOfData();
      model.at = model.items.length;
      return ['ok', 'ok'];
    case 'fsf': {
      const got = await drive.forwardFiles(op.count).then(() => 'ok', fault);
      let expected = 'ok';
      for (let n = 0; n < op.count; n += 1) {
        const next = model.items.findIndex((item, i) => i >= model.at && item.kind === 'filemark');
        if (next < 0) {
          model.at = model.items.length;
          expected = 'fault blank-check';
          break;
        }
        model.at = next + 1;
      }
      return [got, expected];
    }
    case 'bsf': {
      const got = await drive.backwardFiles(op.count).then(() => 'ok', fault);
      const before = model.items.map((item, i) => (item.kind === 'filemark' && i < model.at ? i : -1)).filter((i) => i >= 0);
      if (before.length < op.count) {
        model.at = 0;
        return [got, 'fault position-error'];
      }
      model.at = before[before.length - op.count]!;
      return [got, 'ok'];
    }
    case 'seek': {
      const got = await drive.seekBlock(op.block).then(() => 'ok', fault);
      if (op.block > model.items.length) {
        model.at = model.items.length;
        return [got, 'fault blank-check'];
      }
      model.at = op.block;
      return [got, 'ok'];
    }
    case 'reload':
      await drive.close();
      tape.drive = await FileTape.open(volume, { blockSize: BLOCK_SIZE });
      model.at = 0;
      return ['ok', 'ok'];
  }
}

describe('FileTape against a model of st', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-file-tape-model-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads, positions and reports like the model after any sequence of operations, reloads included', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(arbOp, { minLength: 1, maxLength: 40 }), async (ops) => {
        run += 1;
        const volume = path.join(dir, `VOL${run}`);
        await writeFile(volume, '');
        const tape = { drive: await FileTape.open(volume, { blockSize: BLOCK_SIZE }) };
        const model = new ModelTape();
        let id = 0;
        try {
          for (const [index, op] of ops.entries()) {
            const [got, expected] = await step(volume, tape, model, op, () => (id += 1));
            expect(got, `op ${index} ${JSON.stringify(op)}`).toEqual(expected);
            const status = await tape.drive.status();
            expect({ block: status.block, fileNumber: status.fileNumber, blockInFile: status.blockInFile, atEndOfData: status.atEndOfData }, `after op ${index} ${JSON.stringify(op)}`).toEqual({
              block: model.at,
              fileNumber: model.fileNumber(),
              blockInFile: model.blockInFile(),
              atEndOfData: model.at === model.items.length,
            });
          }
        } finally {
          await tape.drive.close();
          await rm(volume, { force: true });
        }
      }),
      { numRuns: 150 },
    );
  });
});
