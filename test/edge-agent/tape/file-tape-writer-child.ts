/**
 * A writer the kill -9 test kills mid-stream: tape files of `recordsPerFile`
 * records (written `perWrite` at a time), each closed by a filemark, for
 * ever. After each filemark it prints `file N` so the parent knows how many
 * tape files are complete.
 *
 *   node --import tsx file-tape-writer-child.ts VOLUME BLOCK_SIZE RECORDS_PER_FILE PER_WRITE
 */
import { FileTape } from '#agent/tape/drives/file-tape.ts';
import { seekAppendPoint } from '#agent/tape/drives/append-point.ts';
import { records } from '#test/contracts/tape-drive-contract.ts';

const [volume, blockSizeText, recordsPerFileText, perWriteText] = process.argv.slice(2);
const blockSize = Number(blockSizeText);
const recordsPerFile = Number(recordsPerFileText);
const perWrite = Number(perWriteText);
const tape = await FileTape.open(volume!, { blockSize });
// After the last complete tape file, over whatever an earlier killed writer left.
const { fileNumber } = await seekAppendPoint(tape);
for (let file = fileNumber; ; file += 1) {
  for (let first = 0; first < recordsPerFile; first += perWrite) {
    await tape.writeRecords(records(tape, file, first, Math.min(perWrite, recordsPerFile - first)));
  }
  await tape.writeFilemarks();
  process.stdout.write(`file ${file}\n`);
}
