import { stringify } from 'yaml';
import { formatDuration } from '#core/model/durations.ts';
import type { Policy, StartWindow } from '#core/model/policy.ts';

/**
 * A stored policy as the YAML an administrator keeps in git: what
 * `cairn policy show NAME --yaml` prints and the monitor's Policies page
 * shows. It is the policy as stored (every default filled in), with its
 * durations written back as text (`86400` → `1d`), so `cairn policy apply -f`
 * of it stores the same policy again (test/cli/monitor-policies.test.ts).
 */
export function policyYaml(policy: Policy): string {
  // Written so YAML 1.1 readers (PyYAML, older yq) read it as our 1.2 reader does: `"10:00"` quoted, else 1.1 reads 600 (base 60).
  return stringify(withTextDurations(policy), { lineWidth: 0, version: '1.1' });
}

/** The policy with each duration field (seconds when stored) as `formatDuration` text; everything else as stored. */
function withTextDurations(policy: Policy): unknown {
  const text = (seconds: number | undefined): string | undefined => (seconds === undefined ? undefined : formatDuration(seconds));
  const windows = (list: readonly StartWindow[]): unknown[] => list.map((w) => ({ ...w, duration: text(w.duration) }));
  const withFrequency = <T extends { frequency: number; windows: StartWindow[] }>(s: T | undefined): unknown => s && { ...s, frequency: text(s.frequency), windows: windows(s.windows) };
  return dropUndefined({
    ...policy,
    schedules: policy.schedules.map((s) => ({ ...s, frequency: text(s.frequency), windows: windows(s.windows) })),
    verify: withFrequency(policy.verify),
    rehearsal: withFrequency(policy.rehearsal),
    catalogBackup: withFrequency(policy.catalogBackup),
    catalogCheck: policy.catalogCheck && { ...(withFrequency(policy.catalogCheck) as object), grace: text(policy.catalogCheck.grace) },
    copies: policy.copies?.map((c) => ({ ...c, within: text(c.within) })),
  });
}

/** Absent fields stay absent (yaml would write `frequency: null`, which the schema refuses). */
function dropUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropUndefined);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, dropUndefined(v)]));
}
