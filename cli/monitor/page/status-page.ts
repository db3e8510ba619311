/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { fetchStatusCodes, type StatusCodeRow } from './job-api.ts';

type VNode = JSX.Element;

/**
 * `#/status/<code>` (and `#/status`): the status codes' document
 * (docs/status-codes.md, generated from core/status-codes.ts) served by the
 * monitor itself, the code asked for first and marked in the table. Every
 * status on the page links here; nothing links off the machine.
 */
export function StatusPage({ code }: { code?: number }): VNode {
  const [codes, setCodes] = useState<StatusCodeRow[] | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    fetchStatusCodes().then(setCodes, (error: Error) => setProblem(error.message));
  }, []);
  const chosen = codes?.find((row) => row.code === code);
  return h(
    'section',
    { class: 'status-codes' },
    h('a', { href: '#/jobs' }, '← all jobs'),
    h('h1', null, code === undefined ? 'Status codes' : `Status ${code}`),
    problem && h('p', { class: 'problem', role: 'alert' }, problem),
    codes === undefined && !problem && h('p', null, 'Loading…'),
    codes !== undefined && code !== undefined && (chosen ? h('p', { class: 'status-meaning' }, h('b', null, chosen.text), chosen.retried ? ' — retried under Backup Tries.' : ' — not retried.') : h('p', { class: 'problem' }, `${code} is not one of Cairn's status codes.`)),
    h(
      'p',
      null,
      "Every job ends with one of these codes. The numbers are NetBackup's where NetBackup has one; 0 and 1 are successes (1 keeps the image and lists what could not be read). The cairn command exits 0 for status 0, 1 for status 1 and 2 for anything else. Source: docs/status-codes.md.",
    ),
    codes &&
      h(
        'table',
        { class: 'codes' },
        h('thead', null, h('tr', null, h('th', null, 'code'), h('th', null, 'meaning'), h('th', null, 'retried'))),
        h(
          'tbody',
          null,
          codes.map((row) => h('tr', { key: row.code, id: `status-${row.code}`, class: row.code === code ? 'chosen' : undefined }, h('td', null, h('a', { href: `#/status/${row.code}` }, String(row.code))), h('td', null, row.text), h('td', null, row.retried ? 'yes' : 'no'))),
        ),
      ),
  );
}
