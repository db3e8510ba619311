import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { renderStatusCodes } from '../../scripts/status-codes-doc.ts';

describe('docs/status-codes.md', () => {
  it('matches the status-code table in core (run npm run docs:status-codes after changing it)', () => {
    expect(readFileSync(new URL('../../docs/status-codes.md', import.meta.url), 'utf8')).toBe(renderStatusCodes());
  });
});
