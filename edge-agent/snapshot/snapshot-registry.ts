import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CairnError, messageOf } from '#core/errors.ts';
import { FrozenImage, SnapshotMethod } from '#core/model/snapshot.ts';
import { IsoTime } from '#core/model/names.ts';
import { StatusCode } from '#core/status-codes.ts';
import { ProcessIdentity } from './process-identity.ts';

/**
 * One frozen image the agent made or is making. Written BEFORE the image is
 * created, so an agent that dies between the provider's create and the
 * record still leaves a trace (`image` absent: the image may exist, and
 * only its name, method and source root are known).
 */
export const SnapshotRecord = z
  .object({
    name: z.string().regex(/^cairn-job-\d+-[0-9a-z]+$/),
    jobId: z.number().int().positive(),
    method: SnapshotMethod,
    sourceRoot: z.string().startsWith('/'),
    /** The agent process answering for the image: the one that made it, or the job's later command that took it over. */
    owner: ProcessIdentity,
    recordedAt: IsoTime,
    /**
     * Until when the image is kept although its owner is gone, where no job
     * store says whether the job still runs (the cloud agent): each agent
     * command is its own process, and the next command of the job (Mount,
     * Stream) takes the image over when it starts.
     */
    heldUntil: IsoTime,
    /** The image, once the provider made it: what deletes it. */
    image: FrozenImage.optional(),
  })
  .strict();
export type SnapshotRecord = z.output<typeof SnapshotRecord>;

/**
 * The agent's registry of its frozen images: one JSON file per image in
 * `<state dir>/snapshots/`, each written whole under a temporary name and
 * renamed (atomic on one file system), so a crash leaves the old record or
 * the new one, never half of one. The directory is the agent's own
 * (owner-only). Hand-written: a handful of files, where a database would be
 * a dependency for four operations.
 */
export class SnapshotRegistry {
  readonly directory: string;

  constructor(stateDir: string) {
    this.directory = join(stateDir, 'snapshots');
  }

  /** Records (or replaces) an image's record. Status 156 when it cannot be written: no image is made without its record. */
  async put(record: SnapshotRecord): Promise<void> {
    const checked = SnapshotRecord.parse(record);
    const file = this.#file(checked.name);
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      await mkdir(this.directory, { recursive: true, mode: 0o700 });
      await writeFile(temporary, `${JSON.stringify(checked)}\n`, { mode: 0o600 });
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw new CairnError(StatusCode.SNAPSHOT_ERROR, `cannot record snapshot ${checked.name} in ${this.directory}: ${messageOf(error)}`, { cause: error });
    }
  }

  async get(name: string): Promise<SnapshotRecord | undefined> {
    return (await this.list()).find((r) => r.name === name);
  }

  /** Forgets an image (after it was deleted). Resolves when there is no such record. */
  async remove(name: string): Promise<void> {
    await rm(this.#file(name), { force: true });
  }

  /**
   * Every record, by name. A file that does not parse is reported in
   * `unreadable` (by the caller's choice), never taken for an image nobody owns.
   */
  async list(unreadable?: (file: string, reason: string) => void): Promise<SnapshotRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const records: SnapshotRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      try {
        records.push(SnapshotRecord.parse(JSON.parse(await readFile(join(this.directory, name), 'utf8'))));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile
        unreadable?.(join(this.directory, name), messageOf(error));
      }
    }
    return records;
  }

  #file(name: string): string {
    if (!/^cairn-job-\d+-[0-9a-z]+$/.test(name)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `not a Cairn snapshot name: ${name}`);
    return join(this.directory, `${name}.json`);
  }
}
