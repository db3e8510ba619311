import { describe, expect, it } from 'vitest';
import { CairnError } from '#core/errors.ts';
import { StatusCode } from '#core/status-codes.ts';
import type { ExecutionStarter } from '#core/ports/execution-starter.ts';
import { startExecutions } from '#core/schedule/start-executions.ts';

/** A starter that keeps the names it started (a second start of one is 'already-started') and refuses the names in `refused`. */
function namesStarter(refused: ReadonlySet<string>): ExecutionStarter & { inputs: Map<string, unknown> } {
  const inputs = new Map<string, unknown>();
  return {
    inputs,
    async start(name, input) {
      if (refused.has(name)) throw new CairnError(StatusCode.INTERNAL_ERROR, `throttled starting ${name}`);
      if (inputs.has(name)) return 'already-started';
      inputs.set(name, input);
      return 'started';
    },
  };
}

describe('startExecutions (the scheduler\'s verify and catalog-job starts)', () => {
  it('starts each by its name with { request }, counts a name started before as already started, and reports a refused start under its label without stopping the others', async () => {
    const starter = namesStarter(new Set(['check.2']));
    await starter.start('verify.1', { request: { backupId: 'earlier' } });
    const report = await startExecutions(starter, [
      { executionName: 'verify.1', request: { backupId: 'a' }, label: 'verify' },
      { executionName: 'check.2', request: { kind: 'catalog-check' }, label: 'catalog-check' },
      { executionName: 'backup.3', request: { kind: 'catalog-backup' }, label: 'catalog-backup' },
    ]);
    expect(report).toEqual({ started: ['backup.3'], alreadyStarted: ['verify.1'], problems: ['catalog-check check.2: throttled starting check.2'] });
    expect(starter.inputs.get('backup.3')).toEqual({ request: { kind: 'catalog-backup' } });
  });
});
