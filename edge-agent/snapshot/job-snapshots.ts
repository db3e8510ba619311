import { CairnError, messageOf } from '#core/errors.ts';
import { cairnSnapshotName, type FrozenImage, type JobSnapshots, type SnapshotMethod } from '#core/model/snapshot.ts';
import type { DeleteSnapshotResult, DeleteSnapshotTask, SnapshotTask } from '#core/model/snapshot-task.ts';
import type { SnapshotProvider } from '#core/ports/snapshot-provider.ts';
import { planSnapshots, requiredSnapshotMessage, type SelectionChoice } from '#core/snapshot/snapshot-plan.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { ProcessIdentity } from './process-identity.ts';
import { expandAllSelection } from '../probe/probe.ts';
import type { SnapshotRecord, SnapshotRegistry } from './snapshot-registry.ts';

export type SnapshotProviders = Record<SnapshotMethod, SnapshotProvider>;

/**
 * What the agent's snapshot work runs with: its registry (in its state
 * directory), the providers, its own process identity and its clock.
 */
export interface SnapshotAgent {
  registry: SnapshotRegistry;
  /** The providers, opened with one job's options (edge-agent/snapshot/open-snapshot-providers.ts). */
  openProviders(options: { lvmSnapshotSize?: string }): SnapshotProviders;
  /** `auto`: the method and volume root for a path, or why none (chooseSnapshotMethod). */
  choose(path: string, providers: SnapshotProviders): Promise<SelectionChoice>;
  /** The process answering for the images it makes (currentProcess()). */
  owner: ProcessIdentity;
  isAlive(identity: ProcessIdentity): boolean;
  now(): Date;
  /** How long an image outlives its owner where no job store answers (default HANDOVER_SECONDS). */
  handoverSeconds?: number;
}

/**
 * How long a cloud agent keeps an image whose owner process is gone: every
 * agent command is its own process, so between the Snapshot step's process
 * and the Stream's (or a Mount's) an image has no living owner for the time
 * SSM takes to start the next one. The next command of the job takes it
 * over (`adoptJobSnapshots`). Generous: removing an image a job still
 * needs fails that job, while a leftover only costs space until then.
 */
export const HANDOVER_SECONDS = 1800;

/**
 * The Snapshot step: probes every selection (the policy's method, or the one
 * `auto` picks), then freezes each volume once. Each image is recorded in the
 * registry before it is made.
 *
 * - Required and a selection cannot be frozen: 156 naming every selection
 *   and why, before anything is made; a create that fails: 156 with the
 *   provider's reason, and the images already made are deleted.
 * - Not required: such selections are read live, listed in `fellBack`.
 */
export async function takeJobSnapshots(task: SnapshotTask, agent: SnapshotAgent): Promise<JobSnapshots> {
  const providers = agent.openProviders(task.lvmSnapshotSize === undefined ? {} : { lvmSnapshotSize: task.lvmSnapshotSize });
  const choices: Array<{ selection: string; choice: SelectionChoice }> = [];
  // `ALL` (a single-stream job of every local file system) is frozen file system by file system, as the stream will read it.
  for (const selection of await expandAllSelection(task.selections)) choices.push({ selection, choice: await chooseFor(task, selection, providers, agent) });
  const plan = planSnapshots(choices);
  if (task.required && plan.fellBack.length > 0) throw new CairnError(StatusCode.SNAPSHOT_ERROR, `job ${task.jobId}: ${requiredSnapshotMessage(plan.fellBack)}`);

  const images: FrozenImage[] = [];
  const fellBack = [...plan.fellBack];
  for (const volume of plan.volumes) {
    const provider = providers[volume.method];
    const name = cairnSnapshotName(task.jobId, volume.sourceRoot);
    try {
      images.push(await createRecorded(agent, provider, { name, jobId: task.jobId, sourceRoot: volume.sourceRoot }));
    } catch (error) {
      if (task.required) {
        await deleteImages(agent, providers, images);
        throw new CairnError(StatusCode.SNAPSHOT_ERROR, `job ${task.jobId}: a snapshot is required and ${volume.method} could not freeze ${volume.sourceRoot} (for ${volume.selections.join(', ')}): ${messageOf(error)}`, { cause: error });
      }
      for (const selection of volume.selections) fellBack.push({ selection, reason: `${volume.method} snapshot of ${volume.sourceRoot} failed: ${messageOf(error)}` });
    }
  }
  return { images, fellBack };
}

async function chooseFor(task: SnapshotTask, selection: string, providers: SnapshotProviders, agent: SnapshotAgent): Promise<SelectionChoice> {
  try {
    if (task.choice === 'auto') return await agent.choose(selection, providers);
    const probed = await providers[task.choice].probe(selection);
    return probed.ok ? { method: task.choice, sourceRoot: probed.sourceRoot } : { method: 'none', reason: probed.reason };
  } catch (error) {
    return { method: 'none', reason: `probing ${selection} failed: ${messageOf(error)}` };
  }
}

/**
 * Records the image, makes it, records what the provider made. A leftover
 * of the same name (an earlier attempt of the job whose delete failed) is
 * deleted first: the name is the job's and the volume's.
 */
async function createRecorded(agent: SnapshotAgent, provider: SnapshotProvider, wanted: { name: string; jobId: number; sourceRoot: string }): Promise<FrozenImage> {
  const earlier = await agent.registry.get(wanted.name);
  if (earlier?.image) await provider.delete(earlier.image);
  const now = agent.now();
  const record: SnapshotRecord = { ...wanted, method: provider.method, owner: agent.owner, recordedAt: now.toISOString(), heldUntil: heldUntil(agent, now) };
  await agent.registry.put(record);
  let image: FrozenImage;
  try {
    image = await provider.create({ sourceRoot: wanted.sourceRoot, name: wanted.name, jobId: wanted.jobId, createdAt: now.toISOString() });
  } catch (error) {
    // The provider leaves nothing behind when create fails (the port's contract): nothing to keep a record of.
    await agent.registry.remove(wanted.name);
    throw error;
  }
  try {
    await agent.registry.put({ ...record, image });
  } catch (error) {
    await provider.delete(image).catch(() => undefined);
    await agent.registry.remove(wanted.name).catch(() => undefined);
    throw error;
  }
  return image;
}

/** Deletes images and forgets them; what fails stays recorded for the next clean-up. */
async function deleteImages(agent: SnapshotAgent, providers: SnapshotProviders, images: readonly FrozenImage[]): Promise<DeleteSnapshotResult> {
  const result: DeleteSnapshotResult = { deleted: [], failed: [] };
  for (const image of images) {
    try {
      await providers[image.method].delete(image);
      await agent.registry.remove(image.name);
      result.deleted.push(image.name);
    } catch (error) {
      result.failed.push({ name: image.name, reason: messageOf(error) });
    }
  }
  return result;
}

/**
 * The DeleteSnapshot step (and the cloud janitor's delete): removes every
 * image the registry records for the job, and the task's own images. An
 * image already gone counts as deleted. A record whose image was never
 * recorded made (the agent died inside create) is deleted through the
 * provider's `imageOf` (`recordedImage`), else reported failed and left for
 * `cairn snapshot list`.
 */
export async function deleteJobSnapshots(task: DeleteSnapshotTask, agent: SnapshotAgent): Promise<DeleteSnapshotResult> {
  const records = (await agent.registry.list()).filter((r) => r.jobId === task.jobId);
  const images = new Map<string, FrozenImage>();
  for (const image of task.images) if (image.jobId === task.jobId) images.set(image.name, image);
  const providers = agent.openProviders({});
  const unknown: Array<{ name: string; reason: string }> = [];
  for (const record of records) {
    const image = await recordedImage(record, providers).catch((error: unknown) => void unknown.push({ name: record.name, reason: messageOf(error) }));
    if (image) images.set(record.name, image);
  }
  const result = await deleteImages(agent, providers, [...images.values()]);
  result.failed.push(...unknown);
  return result;
}

/**
 * A later command of the job (Mount, Stream, Continue, DeleteSnapshot) takes
 * the job's images over: this process answers for them now, and they are
 * held another HANDOVER_SECONDS after it ends. Returns how many.
 */
export async function adoptJobSnapshots(jobId: number, agent: SnapshotAgent): Promise<number> {
  const records = (await agent.registry.list()).filter((r) => r.jobId === jobId);
  for (const record of records) await agent.registry.put({ ...record, owner: agent.owner, heldUntil: heldUntil(agent, agent.now()) });
  return records.length;
}

/**
 * The image a record names: the one it recorded, or, when the agent died
 * inside `create` and recorded only the request, the one `create` makes for
 * it (the provider's `imageOf`, which changes nothing; the image may or may
 * not exist, and `delete` resolves either way). Rejects (156) when the
 * provider cannot tell it.
 */
export async function recordedImage(record: SnapshotRecord, providers: SnapshotProviders): Promise<FrozenImage> {
  if (record.image) return record.image;
  const provider = providers[record.method];
  if (provider.imageOf === undefined) {
    throw new CairnError(StatusCode.SNAPSHOT_ERROR, `the agent that made it died while creating it, and the ${record.method} provider cannot tell its image of ${record.sourceRoot}: check by hand`);
  }
  return provider.imageOf({ sourceRoot: record.sourceRoot, name: record.name, jobId: record.jobId, createdAt: record.recordedAt });
}

function heldUntil(agent: SnapshotAgent, now: Date): string {
  return new Date(now.getTime() + (agent.handoverSeconds ?? HANDOVER_SECONDS) * 1000).toISOString();
}
