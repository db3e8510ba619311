import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as events from 'aws-cdk-lib/aws-events';
import { Validations, type CfnElement, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CATALOG_JOB_STATE_MACHINE_ARN_ENV, type CatalogJobFunction } from './catalog-job-function.ts';
import { JobStateMachine } from './job-state-machine.ts';

export interface CatalogJobStateMachineProps {
  /** statemachines/catalog-job.asl.json. */
  readonly definitionPath: string;
  readonly catalogJobFunction: CatalogJobFunction;
  readonly jobsFunction: lambda.IFunction;
}

/** The placeholders catalog-job.asl.json uses (local/asl-definition.ts fills them for in-process runs). */
export const CATALOG_JOB_DEFINITION_SUBSTITUTIONS = ['CatalogJobFunctionArn', 'JobsFunctionArn'] as const;

/**
 * One STANDARD execution per scheduled catalog backup or catalog check,
 * started by the scheduler tick under a name built from the kind, the
 * policy and the due instant. Its role may invoke the catalog-job function
 * (Queue, Run) and the jobs function (EndJob), nothing else: no agent
 * document, the work runs in the Lambda.
 */
export class CatalogJobStateMachine extends JobStateMachine {
  constructor(scope: Construct, id: string, props: CatalogJobStateMachineProps) {
    super(scope, id, {
      definitionPath: props.definitionPath,
      name: 'catalog-job',
      functions: { CatalogJobFunctionArn: props.catalogJobFunction.function, JobsFunctionArn: props.jobsFunction },
    });
    // The function is not given this state machine's ARN (that would be a cycle: the machine names the function): the
    // check leaves a dead catalog job to the scheduler's sweep, which ends it by its execution.
  }

  /**
   * The scheduler tick starts the catalog jobs due (StartExecution, by
   * name) and its sweep describes their executions (a catalog job whose
   * execution is gone ends as other jobs do).
   */
  grantToScheduler(scheduler: NodejsFunction): void {
    this.stateMachine.grantStartExecution(scheduler);
    this.stateMachine.grantExecution(scheduler, 'states:DescribeExecution');
    Validations.of(scheduler.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${Stack.of(this).getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}"}]}]}:*]`,
      reason: 'DescribeExecution of any execution of the catalog-job state machine (the sweep looks up executions by the names jobs recorded); no other state machine',
    });
    scheduler.addEnvironment(CATALOG_JOB_STATE_MACHINE_ARN_ENV, this.stateMachine.stateMachineArn);
  }

  /** The janitor ends the job of a catalog-job execution that stopped, timed out or failed, as for the other job state machines: its rule takes these too. */
  grantToJanitor(janitor: NodejsFunction, rule: events.Rule): void {
    janitor.addEnvironment(CATALOG_JOB_STATE_MACHINE_ARN_ENV, this.stateMachine.stateMachineArn);
    rule.addEventPattern({ detail: { stateMachineArn: [this.stateMachine.stateMachineArn] } });
  }
}
