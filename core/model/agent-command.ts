import { z } from 'zod';
import { BackupTask } from './task.ts';
import { Image } from './image.ts';
import { RestoreSource, RestoreTarget } from './job.ts';
import { Name } from './names.ts';
import { StorageUnit } from './storage-unit.ts';
import { DeleteSnapshotTask, SnapshotTask } from './snapshot-task.ts';
import { ContinueBackupTask, InventoryTask, MountTask, TapeReadTarget, UnmountTask } from './tape-task.ts';
import { ProbeTask } from './probe-task.ts';
import { VerifyCommand } from './verify-task.ts';
import { DuplicateCommand } from './duplicate-task.ts';
import { CairnError, messageOf } from '../errors.ts';
import { StatusCode } from '../status-codes.ts';
import { parseOrThrow } from '../validation.ts';

/**
 * What the job engine sends the edge agent: a typed envelope, `{ kind, ... }`,
 * through SSM (the document's `command` parameter) or in process. One agent
 * entry serves every kind; the agent refuses a kind it cannot run with status
 * 20 and a message naming it, so a workflow never waits on a command the
 * agent silently ignored.
 */

/** Run one backup: read the selections, write the image, report the result. */
export const BackupCommand = z.object({ kind: z.literal('backup'), task: BackupTask }).strict();
export type BackupCommand = z.output<typeof BackupCommand>;

/**
 * Restore a client's tree into a target, from images the engine resolved
 * (the image, or the chain that rebuilds a point in time, oldest first),
 * each with the storage unit it lives on.
 */
export const RestoreTask = z
  .object({
    jobId: z.number().int().positive(),
    client: Name,
    source: RestoreSource,
    target: RestoreTarget,
    paths: z.array(z.string()).default([]),
    continueOnError: z.boolean().default(false),
    images: z.array(z.object({ image: Image, storageUnit: StorageUnit }).strict()).min(1),
    /**
     * A tape restore job's Read step: read this volume's share of the one
     * image (its fragments holding the selected paths) from the drive the
     * Mount step loaded. The agent runs only restores that name a volume;
     * restores from disk and S3 run in the CLI's process.
     */
    tape: TapeReadTarget.optional(),
  })
  .strict();
export type RestoreTask = z.output<typeof RestoreTask>;

/** What a restore (or one volume's Read of it) did: as `cairn restore` reports it. */
export const RestoreTaskResult = z
  .object({
    files: z.number().int().min(0),
    bytes: z.number().int().min(0),
    verified: z.number().int().min(0),
    refused: z.array(z.string()),
    renamed: z.array(z.string()),
    failures: z.array(z.string()),
    /** 0, or 1 (partial success) when members were refused or failed. */
    statusCode: z.number().int().min(0).max(1),
  })
  .strict();
export type RestoreTaskResult = z.output<typeof RestoreTaskResult>;
export const RestoreCommand = z.object({ kind: z.literal('restore'), task: RestoreTask }).strict();
export type RestoreCommand = z.output<typeof RestoreCommand>;

/** Load a tape volume into a reserved drive and make it ready to write (the backup-job's Mount step). */
export const MountCommand = z.object({ kind: z.literal('mount'), task: MountTask }).strict();
export type MountCommand = z.output<typeof MountCommand>;
/** Take a volume out of a drive, or leave it loaded for the next job of its pool (Release's Unmount step). */
export const UnmountCommand = z.object({ kind: z.literal('unmount'), task: UnmountTask }).strict();
export type UnmountCommand = z.output<typeof UnmountCommand>;

/** Read a library's slots and barcodes on the host it is attached to (`cairn --aws robot inventory`). */
export const InventoryCommand = z.object({ kind: z.literal('inventory'), task: InventoryTask }).strict();
export type InventoryCommand = z.output<typeof InventoryCommand>;

/**
 * Spanning: hand a backup that waits on a full volume the next one (the
 * backup-job's Continue step). The task token of this command is the one
 * the waiting backup ends (with its result, or the next volume-full); the
 * command itself returns nothing of its own.
 */
export const ContinueBackupCommand = z.object({ kind: z.literal('continue-backup'), task: ContinueBackupTask }).strict();
export type ContinueBackupCommand = z.output<typeof ContinueBackupCommand>;

/** List the client's local file systems for `ALL` (NetWorker's savefs probe; core/model/probe-task.ts). */
export const ProbeCommand = z.object({ kind: z.literal('probe'), task: ProbeTask }).strict();
export type ProbeCommand = z.output<typeof ProbeCommand>;

/** Freeze the job's selections before Stream (the backup-job's Snapshot step); answers JobSnapshots. */
export const SnapshotCommand = z.object({ kind: z.literal('snapshot'), task: SnapshotTask }).strict();
export type SnapshotCommand = z.output<typeof SnapshotCommand>;
/** Remove the job's frozen images (the DeleteSnapshot step on every path; the cloud janitor after a stop or a time-out). */
export const DeleteSnapshotCommand = z.object({ kind: z.literal('delete-snapshot'), task: DeleteSnapshotTask }).strict();
export type DeleteSnapshotCommand = z.output<typeof DeleteSnapshotCommand>;

export const AgentCommand = z.discriminatedUnion('kind', [BackupCommand, RestoreCommand, MountCommand, UnmountCommand, ContinueBackupCommand, InventoryCommand, SnapshotCommand, DeleteSnapshotCommand, ProbeCommand, VerifyCommand, DuplicateCommand]);
export type AgentCommand = z.output<typeof AgentCommand>;
export type AgentCommandInput = z.input<typeof AgentCommand>;

/**
 * Every kind an agent may be sent: the defined ones, and those reserved for
 * what comes next (take a snapshot, inventory a library), whose payloads
 * are defined when they land.
 */
export const AGENT_COMMAND_KINDS = ['backup', 'restore', 'mount', 'unmount', 'continue-backup', 'snapshot', 'delete-snapshot', 'inventory', 'probe', 'verify', 'duplicate'] as const;
export type AgentCommandKind = (typeof AGENT_COMMAND_KINDS)[number];

/** The kinds this agent runs for a workflow, with a task token (`cairn-agent run-task`); any other kind is refused by `parseAgentCommand`. */
export const RUNNABLE_COMMAND_KINDS = ['backup', 'restore', 'mount', 'unmount', 'continue-backup', 'snapshot', 'delete-snapshot', 'verify', 'duplicate'] as const satisfies readonly AgentCommand['kind'][];
export type RunnableCommand = Extract<AgentCommand, { kind: (typeof RUNNABLE_COMMAND_KINDS)[number] }>;

/**
 * The kinds an operator's command sends with no workflow and no task token
 * (`cairn-agent run-command`, the RunAgentCommand document): the agent prints
 * the result on stdout, where SSM keeps it for the sender
 * (GetCommandInvocation). They belong to no job: `unmount` here is the
 * cloud scheduler's idle unload (core/media/idle-unload.ts), its `jobId`
 * the holder the drive is reserved under meanwhile; `delete-snapshot` the
 * cloud janitor's removal of the frozen images of a job whose execution
 * was stopped or timed out (no workflow step runs then); `probe` is a
 * multiple-data-streams parent's savefs probe, read on a later tick.
 */
export const OPERATOR_COMMAND_KINDS = ['inventory', 'unmount', 'delete-snapshot', 'probe'] as const satisfies readonly AgentCommand['kind'][];
export type OperatorCommand = Extract<AgentCommand, { kind: (typeof OPERATOR_COMMAND_KINDS)[number] }>;

const isKnownKind = (kind: string): kind is AgentCommandKind => (AGENT_COMMAND_KINDS as readonly string[]).includes(kind);

/**
 * Parses the envelope as sent (JSON text) into a command this agent runs.
 * Status 20, naming the problem, for text that is not JSON, an envelope
 * without a kind, an unknown kind, a kind this agent does not run yet, or a
 * payload that does not match its kind's schema.
 */
export function parseAgentCommand(text: string): RunnableCommand {
  return parseCommandOf(text, RUNNABLE_COMMAND_KINDS, 'run-task') as RunnableCommand;
}

/** `parseAgentCommand` for `cairn-agent run-command`: only the operator's kinds (OPERATOR_COMMAND_KINDS). */
export function parseOperatorCommand(text: string): OperatorCommand {
  return parseCommandOf(text, OPERATOR_COMMAND_KINDS, 'run-command') as OperatorCommand;
}

function parseCommandOf(text: string, runs: readonly AgentCommandKind[], runner: 'run-task' | 'run-command'): AgentCommand {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `the agent command is not JSON: ${messageOf(error)}`, { cause: error });
  }
  const kind = typeof envelope === 'object' && envelope !== null && 'kind' in envelope ? (envelope as { kind: unknown }).kind : undefined;
  if (typeof kind !== 'string') throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'the agent command has no kind (expected { "kind": "backup", "task": ... })');
  if (!isKnownKind(kind)) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `unknown agent command kind '${kind}' (known: ${AGENT_COMMAND_KINDS.join(', ')})`);
  if (!runs.includes(kind)) {
    const other = runner === 'run-task' ? OPERATOR_COMMAND_KINDS : RUNNABLE_COMMAND_KINDS;
    if ((other as readonly string[]).includes(kind)) {
      const why = runner === 'run-task' ? 'an operator\'s command: cairn-agent run-command runs it, with no task token' : 'a workflow\'s command: cairn-agent run-task runs it, with its task token';
      throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `agent command kind '${kind}' is ${why}`);
    }
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `agent command kind '${kind}' is not supported by this agent yet (${runner} runs: ${runs.join(', ')})`);
  }
  return parseOrThrow(AgentCommand, envelope, `${kind} command`);
}

/** The job a command works for: its progress goes to that job's record. */
export function commandJobId(command: RunnableCommand): number {
  return command.task.jobId;
}
