import { messageOf } from '../errors.ts';
import type { ExecutionStarter } from '../ports/execution-starter.ts';

/** The executions a tick started (by name), those started before, and those it could not start (tried again next tick). */
export interface StartsReport {
  started: string[];
  alreadyStarted: string[];
  problems: string[];
}

/** One execution to start: its name (which makes two ticks start it once), its request, and the word a problem is reported under. */
export interface NamedStart {
  executionName: string;
  request: unknown;
  /** Heads the problem line, `<label> <executionName>: why` (`verify`, `catalog-backup`, ...). */
  label: string;
}

/**
 * Starts each execution by its name with `{ request }` as input. A start
 * that fails is reported, never thrown: the others (and the backups the tick
 * started before) stand, and the next tick tries it again under the same name.
 * The scheduler's verify and catalog-job starts share this; the duplicate
 * starts do not (they wait, defer and probe names, core/schedule/duplicate-starts.ts).
 */
export async function startExecutions(starter: ExecutionStarter, starts: Iterable<NamedStart>): Promise<StartsReport> {
  const report: StartsReport = { started: [], alreadyStarted: [], problems: [] };
  for (const { executionName, request, label } of starts) {
    try {
      const outcome = await starter.start(executionName, { request });
      (outcome === 'started' ? report.started : report.alreadyStarted).push(executionName);
    } catch (error) {
      report.problems.push(`${label} ${executionName}: ${messageOf(error)}`);
    }
  }
  return report;
}
