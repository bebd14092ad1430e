import { WaitingPlaces, waitWithBackoff, type WaitPolicy } from "./backoff";
import { findUserRow, findUserRowsStatement, type D1Reader } from "./queries";
import type { UserRow } from "./schema";

/**
 * Requests waiting for the read model in this isolate, at most. A waiter costs a held connection
 * and a timer, and D1 next to nothing (see `rowAtRevision`); the bound keeps a crowd of them from
 * growing without limit. Past it: 503 with Retry-After at once (docs/decisions/0020).
 */
export const MAX_WAITING = 500;
const places = new WaitingPlaces(MAX_WAITING);

/** A waiting place, or null when all are taken; the returned function gives it back. */
export function takeWaitingPlace(): (() => void) | null {
  return places.take();
}

/**
 * The Retry-After of a 503 to a waiting read, in whole seconds, drawn from 1 to 3: a crowd that
 * timed out together (or was turned away together) comes back spread over two seconds instead of
 * in one burst one second later (BENCHMARKS.md, "Waiting reads").
 */
export function retryAfterSeconds(random: () => number = Math.random): number {
  return 1 + Math.min(2, Math.floor(random() * 3));
}

/**
 * When a waiter that is not woken looks again: 10 ms, then twice as late each time, up to 500 ms.
 * A wait of 2 s costs at most 9 looks, and the looks of all waiters are shared (see `look`).
 */
export const WAIT_POLICY: WaitPolicy = { firstMs: 10, maxMs: 500 };

/**
 * How often a waiter checks, in memory, whether it was told its revision is there: every 10 ms for
 * the first 100 ms (where a projection normally lands), then twice as late each time, at most
 * every 250 ms. Costs a timer and no I/O; it is how a wake from the projector (another request's
 * context) reaches the waiting request.
 */
export const WAKE_TICKS: WaitPolicy = { firstMs: 10, maxMs: 250, steadyForMs: 100 };

/**
 * The newest revision a user's stream is known to have (from its object, by a waiting request of
 * this isolate), kept while someone waits for that user: a stream only grows, so a later waiter
 * for a revision at or below it need not ask the object again.
 */
const streamRevisions = new Map<string, number>();

/** What a waiter may skip asking the user's object: see `streamRevisions`. */
export function knownStreamRevision(userId: string): number {
  return streamRevisions.get(userId) ?? 0;
}

/** Records what the user's object said, while someone waits for that user. */
export function rememberStreamRevision(userId: string, revision: number): void {
  if (revision > knownStreamRevision(userId)) streamRevisions.set(userId, revision);
}

/** What a waiter is told: a revision the read model reached, and the row when the teller has it. */
type Listener = (revision: number, row?: UserRow) => void;

/** The waiters of this isolate, by the user they wait for. */
const listeners = new Map<string, Set<Listener>>();

/**
 * Each waited-for user's read database: a shared look reads each database's users in one
 * statement, through the looking waiter's session for its own database, else the binding itself
 * (a session belongs to its request).
 */
const databases = new Map<string, D1Reader>();

/** When the last shared look of this isolate started (it read every waited-for user's row). */
let lastSharedLookAt = -Infinity;

/**
 * Tells this isolate's waiters that the read model holds `userId` at `revision`: the projector
 * calls it after its D1 commit, so a waiter in the same isolate answers at its next tick. Waiters in other
 * isolates do not hear it; they find the row by their own (shared, backed-off) looks.
 */
export function projected(userId: string, revision: number, row?: UserRow): void {
  const waiting = listeners.get(userId);
  if (!waiting) return;
  for (const listener of [...waiting]) listener(revision, row);
}

/** How many requests wait in this isolate, for how many users, holding how many places (for tests and the bench). */
export function waitingNow(): { waiters: number; users: number; places: number } {
  let waiters = 0;
  for (const set of listeners.values()) waiters += set.size;
  return { waiters, users: listeners.size, places: places.taken };
}

/**
 * Read-your-writes: the user's row once it reaches `minRevision`, waited for at most `waitMs`;
 * "timeout" if it did not (or once `signal` says the caller left). The caller holds a waiting
 * place (`takeWaitingPlace`) and has made sure the stream has that revision, since waiting could
 * not bring one it lacks.
 *
 * The waiter is told by the projector's commit in this isolate (`projected`), which it notices on
 * its next tick (`WAKE_TICKS`, no I/O); without that it looks with backoff (`WAIT_POLICY`), and
 * one look reads the rows of every user waited for in the isolate, one statement per read database
 * they live in (`options.database`: the binding `db` is a session of, by default `db` itself), and
 * tells each waiter: a waiter whose look is due skips it when such a shared look started since its own last
 * one. So N waiters cost about as many D1 reads as there are read databases.
 */
export async function rowAtRevision(
  db: D1Reader,
  userId: string,
  minRevision: number,
  waitMs: number,
  options: { policy?: WaitPolicy; signal?: AbortSignal; database?: D1Reader } = {},
): Promise<UserRow | "timeout"> {
  const database = options.database ?? db;
  let lookedAt = Date.now();
  let found: UserRow | null = null;
  let woken = false;
  const look = async (byWake: boolean): Promise<UserRow | null> => {
    if (found) return found;
    if (byWake) {
      // The projector's wake carries no row: read it, as any read would.
      woken = false;
      lookedAt = Date.now();
      const row = await findUserRow(db, userId);
      return row && row.revision >= minRevision ? row : null;
    }
    if (lastSharedLookAt > lookedAt) {
      // Another waiter's look since ours read this user too, and would have told us.
      lookedAt = lastSharedLookAt;
      return null;
    }
    lookedAt = lastSharedLookAt = Date.now();
    const byDatabase = new Map<D1Reader, string[]>();
    for (const waitedFor of listeners.keys()) {
      const of = databases.get(waitedFor) ?? database;
      const ids = byDatabase.get(of) ?? [];
      ids.push(waitedFor);
      byDatabase.set(of, ids);
    }
    const answers = await Promise.all(
      [...byDatabase].map(([of, ids]) => findUserRowsStatement(of === database ? db : of, ids).all<UserRow>()),
    );
    for (const { results } of answers) for (const row of results) projected(row.id, row.revision, row);
    return found;
  };
  const listener: Listener = (revision, row) => {
    if (revision < minRevision || found) return;
    if (row) found = row;
    else woken = true;
  };
  const set = listeners.get(userId) ?? new Set<Listener>();
  set.add(listener);
  listeners.set(userId, set);
  databases.set(userId, database);
  const leave = () => {
    set.delete(listener);
    if (set.size === 0 && listeners.get(userId) === set) {
      listeners.delete(userId);
      databases.delete(userId);
      streamRevisions.delete(userId);
    }
  };
  // A client that hangs up cancels its request: the code after the wait (the `finally`) never
  // runs, so the abort event is where the waiter leaves.
  options.signal?.addEventListener("abort", leave, { once: true });
  try {
    const result = await waitWithBackoff(look, {
      waitMs,
      policy: options.policy ?? WAIT_POLICY,
      signal: options.signal,
      woken: () => woken || found !== null,
      tick: WAKE_TICKS,
    });
    return result ?? "timeout";
  } finally {
    options.signal?.removeEventListener("abort", leave);
    leave();
  }
}
