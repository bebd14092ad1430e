import { findUserRow, type D1Reader } from "./queries";
import type { UserRow } from "./schema";

/**
 * Requests waiting for the read model in this isolate, at most: each holds a connection and polls
 * D1, so an unbounded number would slow every other read. Past the bound: 503 at once.
 */
export const MAX_WAITING = 32;
const POLL_MS = 10;
let waiting = 0;

/** A waiting place, or null when all are taken; the returned function gives it back. */
export function takeWaitingPlace(): (() => void) | null {
  if (waiting >= MAX_WAITING) return null;
  waiting += 1;
  return () => {
    waiting -= 1;
  };
}

/**
 * Read-your-writes: the user's row once it reaches `minRevision`, polled for at most `waitMs`;
 * "timeout" if it did not, "full" if every waiting place was taken. The caller has made sure the
 * stream has that revision, since waiting could not bring one it lacks.
 */
export async function rowAtRevision(
  db: D1Reader,
  userId: string,
  minRevision: number,
  waitMs: number,
): Promise<UserRow | "timeout" | "full"> {
  const release = takeWaitingPlace();
  if (!release) return "full";
  try {
    const deadline = Date.now() + waitMs;
    for (;;) {
      await scheduler.wait(POLL_MS);
      const row = await findUserRow(db, userId);
      if (row && row.revision >= minRevision) return row;
      if (Date.now() >= deadline) return "timeout";
    }
  } finally {
    release();
  }
}
