// Stand-ins for three packages aws-local-stepfunctions imports at its top
// level but Cairn's standalone job engine never uses (scripts/build.ts
// substitutes them in the bundle only): it overrides every Task state by
// name, so no Lambda client is ever made, and it runs its own ASL file with
// validation off (local/job-engine.ts; test/statemachines validates that
// file in full). Loading the real ones cost about 0.17 s of every
// `cairn backup`. Running from the sources (tsx) loads the real packages.
function unavailable(what) {
  return function () {
    throw new Error(`${what} is not part of Cairn's bundled state-machine interpreter: the standalone runtime overrides every Task state and never validates at run time`);
  };
}

export class LambdaClient {
  constructor() {
    unavailable('@aws-sdk/client-lambda')();
  }
}

export class InvokeCommand {
  constructor() {
    unavailable('@aws-sdk/client-lambda')();
  }
}

export const fromCognitoIdentityPool = unavailable('@aws-sdk/credential-providers');

export default unavailable('asl-validator');
