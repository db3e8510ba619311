// aws-local-stepfunctions calls Promise.withResolvers (Node 22); the runtime installs the same polyfill.
import '#local/polyfills.ts';
