import { expect } from 'vitest';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errors: unknown[] };

/** asl-validator accepts the definition, with no error listed (the errors first, so a failure names them). */
export function expectValidAsl(definition: unknown): void {
  const result = aslValidator(definition);
  expect(result.errors).toEqual([]);
  expect(result.isValid).toBe(true);
}

/** The definition uses JSONPath only: no JSONata query language, no Assign (the in-process runner and our tests read JSONPath). */
export function expectJsonPathOnly(definition: unknown): void {
  const text = JSON.stringify(definition);
  expect(text).not.toMatch(/"QueryLanguage"\s*:\s*"JSONata"/);
  expect(text).not.toMatch(/"Assign"/);
}
