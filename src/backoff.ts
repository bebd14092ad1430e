/**
 * Retry delays of the projection pipeline (queue redeliveries, outbox republishing), with "equal
 * jitter": half of the exponential step is fixed, the other half random, so the retries of many
 * users failing together spread out instead of coming back in one wave, and the delay still grows.
 * `random` is a number in [0, 1): Math.random in production, a fixed value in tests.
 *
 * A root module because both sides of the pipeline retry with it, and write must not import read;
 * not in the domain, which draws no random numbers of its own and knows nothing of retries.
 */
export function jitteredBackoff(
  attempt: number,
  policy: { baseMs: number; capMs: number },
  random: () => number = Math.random,
): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (step / 2) * random());
}
