import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalRuntime, type LocalRuntime } from '#local/runtime.ts';
import { applyPolicies } from '#core/policies/apply-policies.ts';
import { ValidationError } from '#core/errors.ts';
import { readPolicyFile } from '#cli/commands/policy.ts';

const example = new URL('../../examples/policies.yaml', import.meta.url).pathname;

describe('policy files', () => {
  let work: string;
  let rt: LocalRuntime;
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'cairn-policy-'));
    rt = await openLocalRuntime({ home: join(work, 'home') });
  });
  afterEach(() => {
    rt.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('applies the example file, then reports it unchanged, then updated', async () => {
    const docs = readPolicyFile(example);
    expect(await applyPolicies(rt.config, docs)).toEqual([
      { policy: 'file-servers', action: 'created' },
      { policy: 'databases', action: 'created' },
    ]);
    const fs = await rt.config.getPolicy('file-servers');
    expect(fs?.schedules[0]).toMatchObject({ frequency: 86_400, windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '22:00', duration: 28_800 }] });
    expect(await applyPolicies(rt.config, docs)).toEqual([
      { policy: 'file-servers', action: 'unchanged' },
      { policy: 'databases', action: 'unchanged' },
    ]);
    const changed = [{ ...(docs[0] as object), priority: 5 }];
    expect(await applyPolicies(rt.config, changed, { dryRun: true })).toEqual([{ policy: 'file-servers', action: 'updated' }]);
    expect((await rt.config.getPolicy('file-servers'))?.priority).toBe(100);
  });

  it('names every problem in a malformed file and changes nothing', async () => {
    const file = join(work, 'bad.yaml');
    writeFileSync(
      file,
      [
        'name: good',
        'storageUnit: local-disk',
        'clients: [{ name: c1 }]',
        'selections: [/data]',
        'schedules: [{ name: full, type: full }]',
        '---',
        'name: "bad policy"',
        'timeZone: Mars/Olympus',
        'storageUnit: nowhere',
        'clients: []',
        'selections: [relative/path]',
        'schedules:',
        '  - { name: s1, type: weekly, frequency: 1d }',
        '  - { name: s2, type: full, frequency: 1d, windows: [{ days: [funday], start: "25:00", duration: 0h }] }',
        '  - { name: s3, type: full, frequency: 1d, calendar: { weekdays: [mon] }, windows: [{ days: [mon], start: "01:00", duration: 1h }] }',
      ].join('\n'),
    );
    const error = await applyPolicies(rt.config, readPolicyFile(file)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const details = (error as ValidationError).details.join('\n');
    for (const expected of [
      /document 2 \(bad policy\): name: use letters/,
      /document 2 \(bad policy\): timeZone: an IANA time zone/,
      /clients: Too small/,
      /selections\[0\]: a backup selection is an absolute path/,
      /schedules\[0\]\.type: Invalid option/,
      /schedules\[1\]\.windows\[0\]\.days\[0\]: Invalid option/,
      /schedules\[1\]\.windows\[0\]\.start: a local time HH:MM/,
      /schedules\[1\]\.windows\[0\]\.duration: 0h: a duration must be positive/,
      /schedules\[2\]\.calendar: a schedule is frequency-based or calendar-based, not both/,
    ]) {
      expect(details).toMatch(expected);
    }
    expect((error as ValidationError).statusCode).toBe(230);
    expect(await rt.config.listPolicies()).toEqual([]);
  });

  it('rejects a policy whose storage unit does not exist, and a file that is not YAML', async () => {
    const docs = readPolicyFile(example).map((d) => ({ ...(d as object), storageUnit: 'tape-library' }));
    await expect(applyPolicies(rt.config, docs)).rejects.toThrow(/storage unit "tape-library" does not exist/);
    const file = join(work, 'broken.yaml');
    writeFileSync(file, 'name: [unclosed\n');
    expect(() => readPolicyFile(file)).toThrow(/not valid YAML/);
    expect(await rt.config.listPolicies()).toEqual([]);
  });
});
