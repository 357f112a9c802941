// Exponential backoff with jitter for the next try of a failed mail.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: the delay is drawn from [d * (1 - jitter), d] so that failed mails do not retry in lockstep. */
  jitter: number;
}

/** Delay before the next try, after `failures` failed attempts (1 = first failure). */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`failures must be a positive integer, got ${failures}`);
  const exp = Math.min(policy.maxMs, policy.baseMs * policy.factor ** (failures - 1));
  const spread = exp * policy.jitter * random();
  return Math.max(0, Math.round(exp - spread));
}
