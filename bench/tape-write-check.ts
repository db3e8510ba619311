/**
 * `bench:tape`'s check that a tape write is not broken: GNU tar lists each
 * tape file the backup recorded, read straight from the volume file at the
 * byte offset its catalog location gives (a file tape's records sit plainly
 * in the volume file: edge-agent/tape/drives/README.md).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { fileTapeByteOffset } from '#agent/tape/drives/file-tape-format.ts';
import type { TapeFileWritten } from './tape-write-cairn.ts';

/**
 * The regular files GNU `tar -tvf -` lists in the tape files, all together:
 * a file written as pieces (members `<dir>/GNUFileParts/<base>.<k>`,
 * docs/image-format.md "Pieces") counts once. Rejects if tar fails or says anything on stderr (a damaged header, an
 * archive cut short, garbage where a header should be).
 */
export async function listTapeFiles(volume: string, tapeFiles: readonly TapeFileWritten[], blockSize: number): Promise<number> {
  const files = new Set<string>();
  for (const tapeFile of tapeFiles) {
    const start = fileTapeByteOffset({ fileNumber: tapeFile.fileNumber, block: tapeFile.blockOffset, blockSize });
    const length = Math.ceil(tapeFile.bytes / blockSize) * blockSize;
    const listing = await new Promise<string>((resolve, reject) => {
      const tar = spawn('tar', ['-tvf', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      tar.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      tar.on('error', reject);
      tar.on('close', (code) => (code === 0 && stderr === '' ? resolve(stdout) : reject(new Error(`tar -tv of tape file ${tapeFile.fileNumber} at byte ${start}: exit ${code}: ${stderr.slice(0, 2000)}`))));
      // tar stops reading at the archive's end-of-archive blocks; the record padding after them may meet a closed pipe.
      tar.stdin.on('error', (error: NodeJS.ErrnoException) => void (error.code === 'EPIPE' || reject(error)));
      createReadStream(volume, { start, end: start + length - 1, highWaterMark: 1024 * 1024 }).on('error', reject).pipe(tar.stdin);
    });
    for (const line of listing.split('\n')) {
      if (!line.startsWith('-')) continue;
      // `-rw-r--r-- user/group SIZE DATE TIME NAME`: the name is what follows the time.
      const name = line.replace(/^(\S+\s+){5}/, '');
      files.add(name.replace(/\/GNUFileParts\/([^/]+)\.\d+$/, '/$1'));
    }
  }
  return files.size;
}
