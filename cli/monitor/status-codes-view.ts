import { retryableStatusCodes, statusText } from '#core/status-codes.ts';

/** One row of docs/status-codes.md: the code, its text, and whether Backup Tries retries it. */
export interface StatusCodeView {
  code: number;
  text: string;
  retried: boolean;
}

/**
 * `GET /api/status-codes`: the table docs/status-codes.md is generated from
 * (core/status-codes.ts, `npm run docs:status-codes`), so the page's
 * `#/status/<code>` view is that document, served by the monitor itself with
 * no link off the machine.
 */
export function statusCodesView(): { codes: StatusCodeView[]; document: string } {
  const codes = Object.entries(statusText).map(([code, text]) => ({ code: Number(code), text, retried: retryableStatusCodes.has(Number(code)) }));
  return { codes, document: 'docs/status-codes.md' };
}
