// Reconnect delays: exponential, capped, with jitter so a restarted server is not hit by every
// client at the same instant.

export interface BackoffOptions {
  /** First delay before jitter (ms). */
  baseMs: number;
  /** Largest delay before jitter (ms). */
  maxMs: number;
  /** Fraction of the delay that is random: 0.5 means a delay in [d/2, d]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, jitter: 0.5 };

/** The un-jittered ceiling of attempt `n` (0-based): base·2ⁿ, at most max. */
export function backoffCeiling(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = options.baseMs * 2 ** Math.min(Math.max(0, attempt), 30);
  return Math.min(options.maxMs, exp);
}

/** The delay before reconnect attempt `n`: in [ceiling·(1−jitter), ceiling]. */
export function backoffDelay(attempt: number, random: () => number = Math.random, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const ceiling = backoffCeiling(attempt, options);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(ceiling * (1 - options.jitter) + ceiling * options.jitter * r);
}
