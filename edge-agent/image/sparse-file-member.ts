import { createHash } from 'node:crypto';
import type { CopyResult, PreparedFile } from '../reader/file-reader.ts';
import type { ContentWriter, FragmentWriter, MemberPlace } from './fragment-writer.ts';
import { encodeSparseMap, sparseHeader, type Segment } from './sparse-member.ts';
import type { MemberSpec } from './tar-member.ts';

/**
 * A prepared file whose reader knows where its data is (the offhost mover's
 * extent map): it can be stored as a sparse member (sparse-member.ts, GNU
 * PAX 1.0) without reading its holes, whatever its size.
 */
export interface SparsePreparedFile extends PreparedFile {
  readonly sparse: {
    /** The data segments, in order, not overlapping, within the file's size; the rest reads as zeros. */
    segments: readonly Segment[];
    /**
     * Streams the segments' bytes only, in order, then closes the file (in
     * place of `copyTo`; call one of the two, once). The result's sha256 is
     * of the whole content, holes as zeros: what a restore reassembles.
     */
    copyData(write: ContentWriter, signal?: AbortSignal): Promise<CopyResult>;
  };
}

export function isSparsePrepared(file: PreparedFile): file is SparsePreparedFile {
  return 'sparse' in file && (file as SparsePreparedFile).sparse !== undefined;
}

/**
 * Stores `file` as one sparse member when it has holes and its member data
 * (map and segments) fits in a piece (sparse members are never pieced);
 * resolves undefined, having read nothing, otherwise. The member's sha256
 * (for the fragment checksum) is of its data; the result's of the file.
 */
export async function addSparseFileMember(fragments: FragmentWriter, spec: MemberSpec, file: SparsePreparedFile, pieceBytes: number, signal?: AbortSignal): Promise<(MemberPlace & { result: CopyResult }) | undefined> {
  const { segments } = file.sparse;
  const dataBytes = segments.reduce((sum, s) => sum + s.length, 0);
  if (dataBytes >= spec.size) return undefined;
  const map = encodeSparseMap(segments, spec.size);
  if (map.byteLength + dataBytes > pieceBytes) return undefined;
  let copied: CopyResult | undefined;
  const place = await fragments.add(sparseHeader(spec, segments, map.byteLength), async (write) => {
    const member = createHash('sha256');
    const pass: ContentWriter = async (chunk) => {
      member.update(chunk);
      await write(chunk);
    };
    await pass(map);
    copied = await file.sparse.copyData(pass, signal);
    return { sha256: member.digest('hex') };
  });
  return { fragment: place.fragment, offset: place.offset, result: copied! };
}
