import type { Component } from './record-components.ts';

/** The principals whose calls AWS services make (derived in service-calls.ts, not recorded). */
export const SERVICE_COMPONENTS = ['stateMachine', 'restoreStateMachine', 'verifyStateMachine', 'duplicateStateMachine', 'schedule'] as const;
export type ServiceComponent = (typeof SERVICE_COMPONENTS)[number];
/** Every principal test/iam checks: the SDK-recorded components and the service-driven ones. */
export type CheckedComponent = Component | ServiceComponent;
