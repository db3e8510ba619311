/**
 * A fault-injecting wrapper for any port (kopia's faulty blob storage, as a
 * Proxy): pass `faults.port` where the real adapter would go, then make a
 * method fail on its Nth call, wait before answering, or never answer.
 * Calls are counted whether or not a fault hits them.
 *
 *   const faults = withFaults(new MemoryObjectStore());
 *   faults.failOn('put', 3, new Error('disk full'));
 *   await runBackup(task, { store: faults.port, ... });
 */

type Method<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T] & string;
type Args<T, M extends Method<T>> = T[M] extends (...args: infer A) => unknown ? A : never;

interface Rule {
  /** Which matching calls it applies to: the Nth only, or every one from the Nth. */
  nth: number;
  onward: boolean;
  when?: (...args: never[]) => boolean;
  act: () => Promise<void>;
  /** Matching calls seen so far. */
  seen: number;
}

export interface Faults<T extends object> {
  /** The wrapped port. */
  readonly port: T;
  /** The Nth call (1-based) of `method` for which `when` holds rejects with `error`, before reaching the port. */
  failOn<M extends Method<T>>(method: M, nth: number, error?: unknown, when?: (...args: Args<T, M>) => boolean): Faults<T>;
  /** Every call from the Nth on rejects with `error`. */
  failFrom<M extends Method<T>>(method: M, nth: number, error?: unknown, when?: (...args: Args<T, M>) => boolean): Faults<T>;
  /** Every call waits `ms` milliseconds before it reaches the port. */
  delay<M extends Method<T>>(method: M, ms: number): Faults<T>;
  /**
   * From the Nth matching call on, the call never reaches the port and never
   * settles, or rejects with the signal's reason once `signal` aborts.
   */
  hang<M extends Method<T>>(method: M, options?: { nth?: number; signal?: AbortSignal; when?: (...args: Args<T, M>) => boolean }): Faults<T>;
  /** How many times `method` was called, faults included. */
  calls(method: Method<T>): number;
}

export function withFaults<T extends object>(target: T): Faults<T> {
  const rules = new Map<string, Rule[]>();
  const counts = new Map<string, number>();
  const add = (method: string, rule: Omit<Rule, 'seen'>): void => void rules.set(method, [...(rules.get(method) ?? []), { ...rule, seen: 0 }]);

  const port = new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver) as unknown;
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        counts.set(property, (counts.get(property) ?? 0) + 1);
        for (const rule of rules.get(property) ?? []) {
          if (rule.when && !(rule.when as (...a: unknown[]) => boolean)(...args)) continue;
          rule.seen += 1;
          if (rule.seen === rule.nth || (rule.onward && rule.seen > rule.nth)) await rule.act();
        }
        // Called on the real object: adapters keep state in #private fields a Proxy cannot reach.
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });

  const faults: Faults<T> = {
    port,
    failOn(method, nth, error = new Error(`injected failure of ${method} call ${nth}`), when) {
      add(method, { nth, onward: false, when: when as Rule['when'], act: () => Promise.reject(error) });
      return faults;
    },
    failFrom(method, nth, error = new Error(`injected failure of ${method} from call ${nth}`), when) {
      add(method, { nth, onward: true, when: when as Rule['when'], act: () => Promise.reject(error) });
      return faults;
    },
    delay(method, ms) {
      add(method, { nth: 1, onward: true, act: () => new Promise((resolve) => setTimeout(resolve, ms)) });
      return faults;
    },
    hang(method, options = {}) {
      const { signal } = options;
      const forever = (): Promise<void> =>
        new Promise((_, reject) => {
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      add(method, { nth: options.nth ?? 1, onward: true, when: options.when as Rule['when'], act: forever });
      return faults;
    },
    calls: (method) => counts.get(method) ?? 0,
  };
  return faults;
}
