import { z } from 'zod';
import { Name } from './names.ts';

export const BackupLevel = z.enum(['full', 'differential-incremental', 'cumulative-incremental']);
export type BackupLevel = z.output<typeof BackupLevel>;

export const Retention = z.object({ days: z.number().int().min(0).max(36500) }).strict();

export const Schedule = z
  .object({
    name: Name,
    type: BackupLevel,
    /** Frequency-based schedules: due when this much time passed since the last success. */
    frequencySeconds: z.number().int().positive().optional(),
    retention: Retention.default({ days: 14 }),
  })
  .strict();
export type Schedule = z.output<typeof Schedule>;

export const PolicyClient = z
  .object({
    name: Name,
    /** Lower is contacted first (NetWorker Client Priority). */
    priority: z.number().int().min(1).max(1000).default(500),
    /** The SSM managed-instance id (mi-… / i-…) of the client's edge agent, for the cloud runtime. */
    agentInstanceId: z.string().optional(),
  })
  .strict();

export const Policy = z
  .object({
    name: Name,
    active: z.boolean().default(true),
    /** Higher runs first, as NetBackup's job priority. */
    priority: z.number().int().min(0).max(99999).default(0),
    maxJobsPerPolicy: z.number().int().min(1).optional(),
    clients: z.array(PolicyClient).min(1),
    /** Absolute paths on the client. */
    selections: z.array(z.string().startsWith('/', 'a backup selection is an absolute path')).min(1),
    exclude: z.array(z.string()).default([]),
    schedules: z.array(Schedule).min(1),
    storageUnit: Name,
  })
  .strict()
  .superRefine((policy, ctx) => {
    const seen = new Set<string>();
    policy.schedules.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['schedules', i, 'name'], message: `duplicate schedule name "${s.name}"` });
      seen.add(s.name);
    });
    const clients = new Set<string>();
    policy.clients.forEach((c, i) => {
      if (clients.has(c.name)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'name'], message: `duplicate client "${c.name}"` });
      clients.add(c.name);
    });
  });
export type Policy = z.output<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;
