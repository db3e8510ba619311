import { InvalidArgumentError } from 'commander';
import { ValidationError } from '#core/errors.ts';
import { formatDuration } from '#core/model/durations.ts';
import type { Policy } from '#core/model/policy.ts';
import { parseIsoTime } from '../time-option.ts';

/** One row of the Policies page: what `cairn policy list` shows, with each schedule's level and timing. */
export interface PolicyRow {
  name: string;
  /** The policy's own switch (`active: false` in its file): an inactive policy is never due. */
  active: boolean;
  /** `file` or `offhost` (the policy's backupMethod; absent is file). */
  type: string;
  priority: number;
  clients: string[];
  schedules: { name: string; level: string; when: string }[];
  storageUnit: string;
  timeZone: string;
}

export function policyRow(policy: Policy): PolicyRow {
  return {
    name: policy.name,
    active: policy.active,
    type: policy.backupMethod ?? 'file',
    priority: policy.priority,
    clients: policy.clients.map((c) => c.name),
    schedules: policy.schedules.map((s) => ({ name: s.name, level: s.type, when: s.frequency !== undefined ? `every ${formatDuration(s.frequency)}` : s.calendar ? 'calendar' : 'manual only' })),
    storageUnit: policy.storageUnit,
    timeZone: policy.timeZone,
  };
}

/** What `GET /api/schedule/due` may be asked: the instant (absent: now) and the narrowing `cairn schedule due` offers. */
export interface DueQuery {
  at?: Date;
  policy?: string;
  client?: string;
}

/**
 * The query of `GET /api/schedule/due`. `at` is read as `cairn schedule due
 * --at` reads it (cli/time-option.ts), so a time the CLI refuses is refused
 * here with the same reason; a ValidationError names every parameter it
 * rejects, an unknown one too.
 */
export function parseDueQuery(params: URLSearchParams): DueQuery {
  const query: DueQuery = {};
  const problems: string[] = [];
  for (const [name, value] of params) {
    if (value === '') continue;
    if (name === 'at') {
      try {
        query.at = parseIsoTime(value);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        problems.push(`at: ${JSON.stringify(value)}: ${error.message}`);
      }
    } else if (name === 'policy' || name === 'client') query[name] = value;
    else problems.push(`${name}: not a parameter of the due preview (at, policy, client)`);
  }
  if (problems.length) throw new ValidationError('invalid due preview', problems);
  return query;
}
