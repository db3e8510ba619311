/** The verify job's dependencies and state reference, apart so rehearsal.ts and verify-job.ts share them without an import cycle. */
import type { CatalogStore } from '../ports/catalog-store.ts';
import type { ConfigStore } from '../ports/config-store.ts';
import type { JobStore } from '../ports/job-store.ts';

/** What the verify-job state machine carries from state to state. */
export interface VerifyJobRef {
  jobId: number;
  client: string;
  backupId: string;
  /**
   * The image is on a tape unit: the job reads it volume by volume (Plan,
   * then Reserve/Mount/Read/Unmount/Release per volume: verify-tape.ts).
   * Queue always sets it (the workflow's OnTape? choice reads it); a ref
   * rebuilt from a job record (cli/follow-verify.ts) leaves it out.
   */
  tape?: boolean;
}

export interface VerifyJobDeps {
  config: ConfigStore;
  jobs: JobStore;
  catalog: Pick<CatalogStore, 'getImage' | 'listImages'>;
  /** `managed-instances` (AWS): the Verify step goes to the client's agent; otherwise to the agent in this process. */
  agents?: 'in-process' | 'managed-instances';
}
