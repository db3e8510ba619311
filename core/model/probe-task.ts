import { z } from 'zod';

/**
 * The savefs probe sent to a client's agent (the cloud runtime's
 * multiple-data-streams parent, core/jobs/stream-advance.ts): list the
 * client's local file systems for the selection `ALL`. `jobId` is the parent
 * job it is asked for (its answer is read on a later scheduler tick).
 */
export const ProbeTask = z.object({ jobId: z.number().int().positive() }).strict();
export type ProbeTask = z.output<typeof ProbeTask>;

/** What the probe answers (edge-agent/probe/probe.ts ProbeResult), checked as it comes back through SSM. */
export const ProbeResultSchema = z
  .object({
    fileSystems: z.array(z.object({ mountPoint: z.string().startsWith('/'), fsType: z.string(), source: z.string(), device: z.string() }).strict()),
    skipped: z.array(z.object({ mountPoint: z.string(), fsType: z.string(), reason: z.string() }).strict()),
    /** How many mounts were left out in all, when `skipped` lists only the first of them (the answer must fit SSM's 24,000 characters of output). */
    skippedTotal: z.number().int().min(0).optional(),
  })
  .strict();
export type ProbeAnswer = z.output<typeof ProbeResultSchema>;
