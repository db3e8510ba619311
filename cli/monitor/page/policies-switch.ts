/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useState } from 'preact/hooks';
import { setSchedulerSuspended } from './policies-api.ts';

/**
 * The scheduler's one switch (`cairn schedule suspend` / `resume`): it holds
 * every policy, not one; running jobs go on. Shown on the Policies and
 * Schedule pages; `onChange` gets the state the server answered.
 */
export function SchedulerSwitch({ suspended, onChange }: { suspended: boolean; onChange(suspended: boolean): void }): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const flip = (): void => {
    setBusy(true);
    setSchedulerSuspended(!suspended)
      .then((now) => (setProblem(undefined), onChange(now)), (error: Error) => setProblem(error.message))
      .finally(() => setBusy(false));
  };
  return h(
    'div',
    { class: `scheduler ${suspended ? 'suspended' : 'running'}`, 'data-testid': 'scheduler' },
    h('span', { class: `badge ${suspended ? 'badge-suspended' : 'badge-active'}` }, suspended ? 'scheduling suspended' : 'scheduling on'),
    h('span', { class: 'note' }, suspended ? 'no scheduled job starts; running jobs go on' : 'due jobs start as their windows open'),
    h('button', { type: 'button', class: suspended ? 'resume' : 'suspend', disabled: busy, onClick: flip }, busy ? '…' : suspended ? 'Resume scheduling' : 'Suspend scheduling'),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
  );
}
