/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { fetchPolicies, fetchPolicy, type PolicyRow } from './policies-api.ts';
import { SchedulerSwitch } from './policies-switch.ts';

type VNode = JSX.Element;

/** A policy's state: its own active switch, and the scheduler's suspension over every policy. */
function StateBadges({ active, suspended }: { active: boolean; suspended: boolean }): VNode {
  return h(
    'span',
    { class: 'badges' },
    h('span', { class: `badge ${active ? 'badge-active' : 'badge-inactive'}` }, active ? 'active' : 'inactive'),
    suspended && h('span', { class: 'badge badge-suspended' }, 'suspended'),
  );
}

/** `#/policies`: every policy, read-only (they change by `cairn policy apply`), and the scheduler's switch. */
export function PoliciesPage({ version }: { version: number }): VNode {
  const [list, setList] = useState<{ schedulerSuspended: boolean; policies: PolicyRow[] } | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    let current = true;
    fetchPolicies().then(
      (answer) => current && (setList(answer), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [version]);
  return h(
    'section',
    { class: 'policies' },
    h('h1', null, 'Policies'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    list && h(SchedulerSwitch, { suspended: list.schedulerSuspended, onChange: (suspended) => setList({ ...list, schedulerSuspended: suspended }) }),
    list === undefined ? !problem && h('p', null, 'Loading…') : list.policies.length === 0 ? h('p', null, 'No policies. Add them with cairn policy apply -f FILE.') : h(PolicyTable, list),
  );
}

function PolicyTable({ policies, schedulerSuspended }: { policies: PolicyRow[]; schedulerSuspended: boolean }): VNode {
  return h(
    'table',
    { class: 'cards' },
    h('thead', null, h('tr', null, ['Policy', 'State', 'Type', 'Clients', 'Schedules', 'Storage unit'].map((t) => h('th', null, t)))),
    h(
      'tbody',
      null,
      policies.map((p) =>
        h(
          'tr',
          { key: p.name, 'data-policy': p.name },
          h('td', { 'data-label': 'Policy' }, h('a', { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name)),
          h('td', { 'data-label': 'State' }, h(StateBadges, { active: p.active, suspended: schedulerSuspended })),
          h('td', { 'data-label': 'Type' }, p.type),
          h('td', { 'data-label': 'Clients' }, p.clients.join(', ')),
          h('td', { 'data-label': 'Schedules' }, h('ul', { class: 'plain' }, p.schedules.map((s) => h('li', null, `${s.name} (${s.level}, ${s.when})`)))),
          h('td', { 'data-label': 'Storage unit' }, p.storageUnit),
        ),
      ),
    ),
  );
}

/** A name from the address; a malformed escape is kept as typed (the server then answers that no such policy exists). */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `#/policies/NAME`: one policy as the YAML `cairn policy show NAME --yaml` prints, as text. */
export function PolicyPage({ segment, version }: { segment: string; version: number }): VNode {
  const name = decoded(segment);
  const [policy, setPolicy] = useState<(PolicyRow & { yaml: string }) | undefined>(undefined);
  const [suspended, setSuspended] = useState<boolean | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    let current = true;
    Promise.all([fetchPolicy(name), fetchPolicies()]).then(
      ([one, all]) => current && (setPolicy(one), setSuspended(all.schedulerSuspended), setProblem(undefined)),
      (error: Error) => current && setProblem(error.message),
    );
    return () => {
      current = false;
    };
  }, [name, version]);
  const back = h('a', { href: '#/policies' }, '← all policies');
  if (!policy || suspended === undefined) return h('section', null, back, h('p', { class: problem ? 'problem' : undefined, role: problem ? 'alert' : undefined }, problem ?? 'Loading…'));
  return h(
    'section',
    { class: 'policy' },
    back,
    h('h1', null, `Policy ${policy.name}`, ' ', h(StateBadges, { active: policy.active, suspended })),
    h(SchedulerSwitch, { suspended, onChange: setSuspended }),
    h('p', { class: 'note' }, 'Read-only: the policy changes with cairn policy apply -f FILE (this YAML is what cairn policy show ', policy.name, ' --yaml prints).'),
    h('pre', { class: 'yaml', 'data-testid': 'policy-yaml' }, policy.yaml),
  );
}
