import { jitteredBackoff } from "../backoff";

/** Redelivery delay of a queue message that failed its `attempts`-th delivery, in whole seconds. */
export function redeliveryDelaySeconds(attempts: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(jitteredBackoff(attempts, { baseMs: 1_000, capMs: 60_000 }, random) / 1000));
}

/**
 * A bounded number of places for requests that wait in this isolate. Past the bound a caller is
 * told to come back (503 with Retry-After) rather than queued, so waiting readers cannot crowd out
 * the reads that answer at once.
 */
export class WaitingPlaces {
  #taken = 0;
  constructor(readonly max: number) {}

  get taken(): number {
    return this.#taken;
  }

  /** A place, or null when all are taken; the returned function gives it back (once). */
  take(): (() => void) | null {
    if (this.#taken >= this.max) return null;
    this.#taken += 1;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#taken -= 1;
    };
  }
}

/**
 * When a waiter looks again: first after `firstMs` (and every `firstMs` for the first `steadyForMs`
 * of the wait, if given), then each next time twice as late, up to `maxMs`.
 */
export interface WaitPolicy {
  firstMs: number;
  maxMs: number;
  steadyForMs?: number;
}

/**
 * Waits for `look` to find something, for at most `waitMs`: `look` runs after each backoff step
 * of `policy`, and sooner when `woken` says an event may have brought it (then with `woken` true).
 * `woken` is only asked on this request's own timer ticks (`tick`: a backoff of its own, cheap: no
 * I/O): a wake from another request's context, such as the projector's, must not resume this one
 * directly, since the runtime does not let one request's handler run another's (its I/O fails).
 * Resolves `look`'s first non-null result, or null at the deadline or once `signal` says the caller
 * left. The last look is at the deadline, so a wait never ends having missed what arrived just
 * before it.
 */
export async function waitWithBackoff<T>(
  look: (woken: boolean) => Promise<T | null>,
  options: {
    waitMs: number;
    policy: WaitPolicy;
    signal?: AbortSignal | undefined;
    woken?: () => boolean;
    tick?: WaitPolicy;
  },
): Promise<T | null> {
  const { waitMs, policy, signal, woken, tick } = options;
  const started = Date.now();
  const deadline = started + waitMs;
  let pause = policy.firstMs;
  let nextLook = Date.now() + pause;
  let tickMs = tick?.firstMs ?? Infinity;
  for (;;) {
    const now = Date.now();
    if (now >= deadline || signal?.aborted) return null;
    await scheduler.wait(Math.max(0, Math.min(deadline - now, nextLook - now, tickMs)));
    if (tick && Date.now() - started >= (tick.steadyForMs ?? 0)) tickMs = Math.min(tickMs * 2, tick.maxMs);
    if (signal?.aborted) return null;
    if (woken?.()) {
      // A wake that does not bring it leaves the backoff where it was.
      const found = await look(true);
      if (found !== null) return found;
    } else if (Date.now() >= nextLook || Date.now() >= deadline) {
      const found = await look(false);
      if (found !== null) return found;
      pause = Math.min(pause * 2, policy.maxMs);
      nextLook = Date.now() + pause;
    }
  }
}
