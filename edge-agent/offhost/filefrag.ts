import { execFile } from 'node:child_process';
import { CairnError } from '#core/errors.ts';
import { hasRawBytes } from '#core/model/file-name.ts';
import { StatusCode } from '#core/status-codes.ts';

/*
 * File extents through e2fsprogs' `filefrag -v -e`, which asks the kernel by
 * the FIEMAP ioctl. Node has no ioctl, and a native addon would be one more
 * binary to build and ship next to the one-file agent (the zstd addon already
 * shows the cost: docs in edge-agent/README.md); filefrag is on every host
 * with e2fsprogs, works on any file system that answers FIEMAP (ext4, xfs,
 * btrfs), and takes many files per run, so a run costs one process for a
 * batch of files rather than one per file. Its output is parsed by hand:
 * it is a table meant for people, so the parser is strict and anything it
 * does not recognise makes that file fall back to a file read.
 */

/** One extent as filefrag prints it, in file-system blocks of `blockBytes`. */
export interface Extent {
  /** First block of the file this extent holds. */
  logical: number;
  /** First block on the device. */
  physical: number;
  /** Blocks. */
  length: number;
  /** FIEMAP flags, as filefrag names them (`last`, `unwritten`, `inline`, `shared`, ...). */
  flags: string[];
}

export interface FileExtents {
  path: string;
  /** File size in bytes, as filefrag saw it. */
  size: number;
  /** The unit of `logical`, `physical` and `length`. */
  blockBytes: number;
  extents: Extent[];
}

/** Files per filefrag run: long enough to make a run worth its start, short enough for any argument list. */
export const FILEFRAG_BATCH = 256;

/**
 * The extents of each file, by running filefrag over them in batches. A
 * file filefrag could not map (it vanished, FIEMAP not supported, a name
 * its output cannot be matched to) is absent from the map: the caller falls
 * back to a file read for it. Rejects with status 156 when filefrag itself
 * cannot be run.
 */
export async function mapFiles(paths: readonly string[], command = 'filefrag'): Promise<Map<string, FileExtents>> {
  const found = new Map<string, FileExtents>();
  for (let from = 0; from < paths.length; from += FILEFRAG_BATCH) {
    // A name with a newline would make the output ambiguous, and one that is not UTF-8 cannot be an argument string
    // (core/model/file-name.ts): such files are read as files.
    const batch = paths.slice(from, from + FILEFRAG_BATCH).filter((p) => !p.includes('\n') && !hasRawBytes(p));
    if (batch.length === 0) continue;
    const stdout = await runFilefrag(command, batch);
    for (const file of parseFilefrag(stdout, batch)) found.set(file.path, file);
  }
  return found;
}

function runFilefrag(command: string, paths: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // `--` so that a name starting with `-` is a name. Exit status 1 or 2 means some file could not be mapped: its table is missing, which parseFilefrag sees.
    execFile(command, ['-v', '-e', '--', ...paths], { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && (typeof error.code !== 'number' || stdout === '')) {
        reject(new CairnError(StatusCode.SNAPSHOT_ERROR, `cannot map file extents: ${command} -v -e failed: ${stderr.trim() || error.message}`, { cause: error }));
        return;
      }
      resolve(stdout);
    });
  });
}

const SIZE_LINE = /^File size of (.*) is (\d+) \((\d+) blocks? of (\d+) bytes\)$/;
const EXTENT_LINE = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*(\d+)\.\.\s*(\d+):\s*(\d+):(?:\s*(\d+):)?\s*([a-z_,]*)\s*$/;
const HEADER_LINE = /^\s*ext:\s+logical_offset:/;
const COUNT_LINE = /: \d+ extents? found$/;

/**
 * Parses `filefrag -v -e` output for `paths`, in the order they were given.
 * Files are matched by name, in order: one whose table is missing (filefrag
 * printed an error on stderr instead) is skipped. A table with a line this
 * parser does not know is dropped whole, so its file falls back.
 */
export function parseFilefrag(stdout: string, paths: readonly string[]): FileExtents[] {
  const lines = stdout.split('\n');
  const out: FileExtents[] = [];
  let next = 0;
  let current: (FileExtents & { broken: boolean }) | undefined;
  const close = (): void => {
    if (current && !current.broken) out.push({ path: current.path, size: current.size, blockBytes: current.blockBytes, extents: current.extents });
    current = undefined;
  };
  for (const line of lines) {
    const size = SIZE_LINE.exec(line);
    if (size) {
      close();
      const name = size[1]!;
      // The name is matched against the files still expected, in order; files skipped over had no table.
      const at = paths.indexOf(name, next);
      if (at === -1) continue;
      next = at + 1;
      current = { path: name, size: Number(size[2]), blockBytes: Number(size[4]), extents: [], broken: false };
      continue;
    }
    if (!current) continue;
    if (HEADER_LINE.test(line) || line.startsWith('Filesystem ') || line === '') continue;
    if (COUNT_LINE.test(line) && line.startsWith(`${current.path}: `)) {
      close();
      continue;
    }
    const extent = EXTENT_LINE.exec(line);
    if (!extent) {
      current.broken = true;
      continue;
    }
    const [logicalStart, logicalEnd, physicalStart, physicalEnd, length] = [1, 2, 3, 4, 5].map((i) => Number(extent[i]));
    const flags = extent[7] ? extent[7].split(',').filter((f) => f !== '') : [];
    // Inline data is printed in bytes, not blocks; such an extent falls back anyway, and its numbers are not checked.
    const consistent = logicalEnd! - logicalStart! + 1 === length && physicalEnd! - physicalStart! + 1 === length;
    if (!consistent && !flags.includes('inline') && !flags.includes('data_inline')) current.broken = true;
    current.extents.push({ logical: logicalStart!, physical: physicalStart!, length: length!, flags });
  }
  close();
  return out;
}
