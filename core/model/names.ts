import { z } from 'zod';

/**
 * Names of clients, policies, schedules and storage units end up in object
 * keys, execution names and file paths, so they are restricted to a safe set.
 */
export const Name = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, dot, dash and underscore, starting with a letter or digit');

export const IsoTime = z.iso.datetime({ offset: true });
