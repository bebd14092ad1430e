/**
 * When a waiting read turned away with a 503 is told to come back (its `Retry-After`), so that the
 * crowd's re-asks stay within a budget per isolate (decision 0020, "Amendment: a Retry-After that
 * grows with the crowd"). Every re-ask costs the isolate its handling (1.7–3.3 ms of CPU) whatever
 * it reads; 300 clients told 1–3 s were 60–75 a second, and the plain reads beside them paid for it.
 */

/**
 * Re-asks a second an isolate tells its turned-away waiting reads to make, at most, while the cap
 * allows. 300 clients waiting 30 s each were 9–10 a second, and the plain read's p99 beside them
 * was ×0.86 of its p99 alone (BENCHMARKS.md, "Waiting reads").
 */
export const COME_BACK_BUDGET = 10;

/**
 * The latest a client is told to come back, in seconds: the longest wait a read may be configured
 * with (`READ_YOUR_WRITES_WAIT_MS`, up to 30 s). Past `COME_BACK_BUDGET × 30` clients turned away
 * within 30 s (300), the budget gives way and the re-asks are spread evenly over the 30 s instead.
 */
export const COME_BACK_CAP_S = 30;

/**
 * The seconds to tell the next client, given how many were already told to come back in each
 * coming second (`told[s]`: in the second starting `s` seconds from now; `told[0]` is unused).
 * A draw from 1 to 3 s, as when few wait, then the first second from there (else from 1 s) told
 * fewer than `budget`; when every second up to `cap` is full, the least told one, searched from a
 * drawn second so that ties spread. So n clients turned away at once come back over about n/budget
 * seconds, `budget` a second, never all after the same second.
 */
export function comeBackIn(
  told: readonly number[],
  random: () => number,
  budget = COME_BACK_BUDGET,
  cap = COME_BACK_CAP_S,
): number {
  const count = (s: number) => told[s] ?? 0;
  const drawn = 1 + Math.min(2, Math.floor(random() * 3));
  for (const from of [drawn, 1]) {
    for (let s = from; s <= cap; s++) if (count(s) < budget) return s;
  }
  const start = 1 + Math.min(cap - 1, Math.floor(random() * cap));
  let least = start;
  for (let i = 1; i < cap; i++) {
    const s = 1 + ((start - 1 + i) % cap);
    if (count(s) < count(least)) least = s;
  }
  return least;
}

/**
 * The come-backs an isolate has told, by the wall-clock second they fall in: a client told `s`
 * seconds at `nowMs` comes back within the second `floor(nowMs / 1000) + s`. Seconds past are
 * forgotten as the next client is told.
 */
export class ComeBacks {
  readonly #told = new Map<number, number>();

  constructor(
    readonly budget = COME_BACK_BUDGET,
    readonly cap = COME_BACK_CAP_S,
  ) {}

  /** The `Retry-After` for one more client turned away at `nowMs` (counted from then on). */
  tell(nowMs: number, random: () => number): number {
    const second = Math.floor(nowMs / 1000);
    for (const at of this.#told.keys()) if (at <= second) this.#told.delete(at);
    const told = Array.from({ length: this.cap + 1 }, (_, s) => (s === 0 ? 0 : (this.#told.get(second + s) ?? 0)));
    const s = comeBackIn(told, random, this.budget, this.cap);
    this.#told.set(second + s, told[s]! + 1);
    return s;
  }
}
