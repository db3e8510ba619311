// Types of launch.js, for the TypeScript that uses it (scripts/build.ts, the tests).
export declare const MANIFEST_FORMAT: number;
export declare const MANIFEST_NAME: string;
export interface Fingerprint {
  size: number;
  mtimeMs: number;
  sha256: string;
}
export declare function fingerprint(path: string): Fingerprint;
export declare function buildState(root: string, dist?: string): { fresh: true } | { fresh: false; reason: string };
export declare function load<T>(binUrl: string, bundle: string, source: () => Promise<T>): Promise<T>;
