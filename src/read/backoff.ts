import { jitteredBackoff } from "../backoff";

/** Redelivery delay of a queue message that failed its `attempts`-th delivery, in whole seconds. */
export function redeliveryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(jitteredBackoff(attempts, { baseMs: 1_000, capMs: 60_000 }, random) / 1000));
}
