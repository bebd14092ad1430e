/**
 * Retry delays of the projection pipeline (queue redeliveries, outbox republishing), with "equal
 * jitter": half of the exponential step is fixed, the other half random, so the retries of many
 * users failing together spread out instead of coming back in one wave, and the delay still grows.
 * `random` is a number in [0, 1): Math.random in production, a fixed value in tests.
 */
export function jitteredBackoff(
  attempt: number,
  policy: { baseMs: number; capMs: number },
  random: () => number = Math.random,
): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (step / 2) * random());
}

/** Redelivery delay of a queue message that failed its `attempts`-th delivery, in whole seconds. */
export function redeliveryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(jitteredBackoff(attempts, { baseMs: 1_000, capMs: 60_000 }, random) / 1000));
}
