import { z } from 'zod';
import { Name } from './names.ts';

/**
 * An SSM managed instance: `mi-` and 17 hex digits for a host registered with
 * a hybrid activation (on premise), `i-` and 8 or 17 for an EC2 instance.
 */
export const ManagedInstanceId = z.string().regex(/^(mi-[0-9a-f]{17}|i-[0-9a-f]{8}|i-[0-9a-f]{17})$/, 'an SSM managed instance id: mi-<17 hex digits> (on premise) or i-<8 or 17 hex digits> (EC2)');

/**
 * A client (a host whose data is backed up) and the managed instance its
 * edge agent runs on, where the cloud runtime sends its backup commands.
 * One instance per client; one instance may serve several clients (a host
 * backed up under two names, a proxy host).
 */
export const Client = z
  .object({
    name: Name,
    instanceId: ManagedInstanceId,
  })
  .strict();
export type Client = z.output<typeof Client>;
