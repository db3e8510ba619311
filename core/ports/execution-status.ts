/** Where a workflow execution is: Step Functions' status, and why it failed when it did. */
export interface ExecutionState {
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE. */
  status: string;
  error?: string;
  cause?: string;
}

/**
 * Reads the state of backup-job executions by name (the name a job records
 * as `executionName`).
 *
 * Contract: `describe` answers the execution's state, or undefined when the
 * workflow service does not know an execution of that name (never started,
 * or closed longer ago than the service keeps executions: 90 days for Step
 * Functions). Any other failure rejects with a CairnError keeping the cause;
 * it changes nothing and is safe to retry.
 */
export interface ExecutionStatuses {
  describe(executionName: string): Promise<ExecutionState | undefined>;
}
