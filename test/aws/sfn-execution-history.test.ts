import { describe, expect, it } from 'vitest';
import { billedTransitionsOf } from '#aws/sfn-execution-history.ts';

const events = (...types: string[]) => types.map((type) => ({ type }));

/** Standard workflows bill every state transition, retries included (https://aws.amazon.com/step-functions/pricing/). */
describe('the state transitions an execution history is billed for', () => {
  it('counts one per state entered', () => {
    expect(billedTransitionsOf(events('ExecutionStarted', 'TaskStateEntered', 'LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionSucceeded', 'TaskStateExited', 'ChoiceStateEntered', 'ChoiceStateExited', 'WaitStateEntered', 'WaitStateExited', 'SucceedStateEntered', 'ExecutionSucceeded'))).toBe(4);
  });

  it('adds one for each retry of a Task (scheduled again within the same state entry)', () => {
    const retried = events(
      'ExecutionStarted',
      'TaskStateEntered', 'LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionFailed',
      'LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionFailed',
      'LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionSucceeded', 'TaskStateExited',
      'TaskStateEntered', 'TaskScheduled', 'TaskStarted', 'TaskSubmitted', 'TaskSucceeded', 'TaskStateExited',
      'ExecutionSucceeded',
    );
    // Two states entered, the first Task retried twice.
    expect(billedTransitionsOf(retried)).toBe(4);
  });

  it('counts nothing for an execution that entered no state', () => {
    expect(billedTransitionsOf(events('ExecutionStarted', 'ExecutionAborted'))).toBe(0);
  });
});
