// Shared with the CLI from core/ (a pure mapping); kept here so agent code imports it as before.
export { describeFsError } from '#core/fs-errors.ts';
