/**
 * Requests waiting for the read model in this isolate, at most: each holds a connection and polls
 * D1, so an unbounded number would slow every other read. Past the bound: 503 at once.
 */
export const MAX_WAITING = 32;
let waiting = 0;

/** A waiting place, or null when all are taken; the returned function gives it back. */
export function takeWaitingPlace(): (() => void) | null {
  if (waiting >= MAX_WAITING) return null;
  waiting += 1;
  return () => {
    waiting -= 1;
  };
}
