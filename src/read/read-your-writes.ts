import { WaitingPlaces, waitWithBackoff, type WaitPolicy } from "./backoff";
import { ComeBacks } from "./retry-after";
import { callerRowOf, findWaitedFor, type CallerRow, type D1Reader } from "./queries";
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

/** The come-backs this isolate told its turned-away waiting reads (see `ComeBacks`). */
const comeBacks = new ComeBacks();

/**
 * The Retry-After of a 503 to a waiting read (a waiter's timeout, or no waiting place), in whole
 * seconds: 1 to 3 while few are turned away, later as more are, so that the isolate's waiting
 * reads come back at most `COME_BACK_BUDGET` a second, spread, told at most `COME_BACK_CAP_S`
 * (decision 0020, "Amendment: a Retry-After that grows with the crowd").
 */
export function retryAfterSeconds(random: () => number = Math.random, nowMs: number = Date.now()): number {
  return comeBacks.tell(nowMs, random);
}

/**
 * When a waiter that is not woken looks again: 10 ms, then twice as late each time, up to 500 ms.
 * A wait of 2 s costs at most 9 looks, and the looks of all waiters are shared (see `sharedLook`).
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

/**
 * A waiting read that joins the isolate's waiters for its user (`mayJoin`) without a D1 read of
 * its own: its caller's row, to confirm its token, is read by the next shared look, beside the
 * rows of the users waited for. It answers nothing (its row, or the timeout) before `confirm` has
 * seen a caller row read after it joined.
 */
export interface Joining {
  callerId: string;
  /** The caller's read database (the binding, not a session: another request's look reads it). */
  callerDatabase: D1Reader;
  /** Checks the token against the caller's row (undefined: none there), in the joiner's own request; throws to refuse. */
  confirm: (caller: CallerRow | undefined) => Promise<void>;
  /** The user's row may be in another database when it is not in its own (a re-shard, 0027): then "elsewhere". */
  elsewhere?: boolean;
}

/**
 * When a joiner looks if no other look comes first: its user is already looked for by the waiters
 * it joined, so it only needs its caller's row, and a crowd arriving at 60 a second shares one look
 * per quarter second instead of one each 10 ms after it arrives (decision 0020, "Amendment: reads
 * that join").
 */
export const JOIN_POLICY: WaitPolicy = { firstMs: 250, maxMs: 500 };

/** A waiting read, as the shared looks and the projector see it. */
interface Waiter {
  /** Told a revision the read model reached, with the row when the teller has it. */
  tell(revision: number, row?: UserRow): void;
  /** A joiner's caller: asked by the next look, which leaves its row here (null: none there). */
  caller?: { id: string; database: D1Reader; row?: CallerRow | null; userMissing?: boolean };
}

/** The waiters of this isolate, by the user they wait for. */
const listeners = new Map<string, Set<Waiter>>();

/**
 * Each waited-for user's read database: a shared look reads each database's users in one
 * statement, through the looking waiter's session for its own database, else the binding itself
 * (a session belongs to its request).
 */
const databases = new Map<string, D1Reader>();

/**
 * The newest revision the read model was seen (or told) to hold for a waited-for user: a read for
 * a revision at or below it is answered by its own read at once, so it does not join.
 */
const readModelRevisions = new Map<string, number>();

/** When the last shared look of this isolate started (it read every waited-for user's row). */
let lastSharedLookAt = -Infinity;
/** How many shared looks this isolate made (for tests). */
let sharedLooks = 0;

/**
 * Tells this isolate's waiters that the read model holds `userId` at `revision`: the projector
 * calls it after its D1 commit, so a waiter in the same isolate answers at its next tick. Waiters in other
 * isolates do not hear it; they find the row by their own (shared, backed-off) looks.
 */
export function projected(userId: string, revision: number, row?: UserRow): void {
  const waiting = listeners.get(userId);
  if (!waiting) return;
  if (revision > (readModelRevisions.get(userId) ?? 0)) readModelRevisions.set(userId, revision);
  for (const waiter of [...waiting]) waiter.tell(revision, row);
}

/**
 * Whether a read for `minRevision` of `userId` may join the isolate's waiters without reading
 * anything: others wait for that user, the stream is known to have the revision (so neither 404
 * nor 422 can be its answer), and the read model was not seen to hold it yet.
 */
export function mayJoin(userId: string, minRevision: number): boolean {
  return (
    listeners.has(userId) &&
    knownStreamRevision(userId) >= minRevision &&
    (readModelRevisions.get(userId) ?? 0) < minRevision
  );
}

/** How many requests wait in this isolate, for how many users, holding how many places; the shared looks so far (for tests). */
export function waitingNow(): { waiters: number; users: number; places: number; looks: number } {
  let waiters = 0;
  for (const set of listeners.values()) waiters += set.size;
  return { waiters, users: listeners.size, places: places.taken, looks: sharedLooks };
}

/**
 * One look for every waiter of the isolate: the rows of all users waited for and of the callers
 * of joiners not told theirs yet, one statement per read database (`database`, the looking
 * waiter's, read through its session `db`). Callers are told first, then each waiter its row.
 */
async function sharedLook(db: D1Reader, database: D1Reader, own?: Waiter): Promise<void> {
  lastSharedLookAt = Date.now();
  sharedLooks += 1;
  const asked = new Map<D1Reader, Set<string>>();
  const ask = (of: D1Reader, id: string) => asked.set(of, (asked.get(of) ?? new Set()).add(id));
  const waitedIn = new Map<string, D1Reader>();
  const joiners: Array<{ userId: string; caller: NonNullable<Waiter["caller"]> }> = [];
  for (const [userId, waiting] of listeners) {
    const of = databases.get(userId) ?? database;
    waitedIn.set(userId, of);
    ask(of, userId);
    for (const { caller } of waiting) {
      if (caller && caller.row === undefined) {
        ask(caller.database, caller.id);
        joiners.push({ userId, caller });
      }
    }
  }
  const answers = new Map<D1Reader, Map<string, { row: UserRow; published: number | null }>>();
  const failed = new Map<D1Reader, unknown>();
  await Promise.all(
    [...asked].map(async ([of, ids]) => {
      try {
        const rows = await findWaitedFor(of === database ? db : of, [...ids]);
        answers.set(of, new Map(rows.map((found) => [found.row.id, found])));
      } catch (error) {
        failed.set(of, error);
      }
    }),
  );
  for (const { userId, caller } of joiners) {
    if (failed.has(caller.database) || failed.has(waitedIn.get(userId)!)) continue; // left for a later look
    const found = answers.get(caller.database)?.get(caller.id);
    caller.row = found ? callerRowOf(found.row, found.published) : null;
    caller.userMissing = !answers.get(waitedIn.get(userId)!)?.has(userId);
  }
  for (const [userId, of] of waitedIn) {
    const found = answers.get(of)?.get(userId);
    if (found) projected(userId, found.row.revision, found.row);
  }
  // The looker fails only when what it needs itself failed: its user's database, its own caller's.
  if (failed.has(database)) throw failed.get(database);
  if (own?.caller && failed.has(own.caller.database)) throw failed.get(own.caller.database);
}

/**
 * Read-your-writes: the user's row once it reaches `minRevision`, waited for at most `waitMs`;
 * "timeout" if it did not (or once `signal` says the caller left). The caller holds a waiting
 * place (`takeWaitingPlace`) and has made sure the stream has that revision, since waiting could
 * not bring one it lacks; or it joins (`options.joining`, see `Joining`) and only ends confirmed.
 *
 * The waiter is told by the projector's commit in this isolate (`projected`), which it notices on
 * its next tick (`WAKE_TICKS`, no I/O), and then looks; without that it looks with backoff
 * (`WAIT_POLICY`, a joiner `JOIN_POLICY`). One look reads the rows of every user waited for in the
 * isolate, one statement per read database they live in (`options.database`: the binding `db` is
 * a session of, by default `db` itself), and tells each waiter: a waiter whose look is due (or
 * that was woken) skips it when such a shared look started since its own last one (since the
 * wake). So N waiters cost about as many D1 reads as there are read databases.
 * "elsewhere": a joiner, confirmed, whose user has no row in its database during a re-shard (the
 * route then reads it as before the join).
 */
export async function rowAtRevision(
  db: D1Reader,
  userId: string,
  minRevision: number,
  waitMs: number,
  options: { policy?: WaitPolicy; signal?: AbortSignal; database?: D1Reader; joining?: Joining } = {},
): Promise<UserRow | "timeout" | "elsewhere"> {
  const { joining, signal } = options;
  const database = options.database ?? db;
  const joinedAt = Date.now();
  const deadline = joinedAt + waitMs;
  let lookedAt = joinedAt;
  let found: UserRow | null = null;
  let woken = false;
  let wokenAt = -Infinity;
  let confirmed = !joining;
  const waiter: Waiter = {
    tell: (revision, row) => {
      if (revision < minRevision || found) return;
      if (row) found = row;
      else {
        woken = true;
        wokenAt = Date.now();
      }
    },
  };
  if (joining) waiter.caller = { id: joining.callerId, database: joining.callerDatabase };
  /** What the waiter may answer now: nothing before a joiner's caller is confirmed. */
  const settle = async (): Promise<UserRow | "elsewhere" | null> => {
    const caller = waiter.caller;
    if (joining && caller && !confirmed) {
      if (caller.row === undefined) return null;
      await joining.confirm(caller.row ?? undefined);
      confirmed = true;
      if (!found && caller.userMissing && joining.elsewhere) return "elsewhere";
    }
    return found;
  };
  const look = async (byWake: boolean): Promise<UserRow | "elsewhere" | null> => {
    const settled = await settle();
    if (settled) return settled;
    // A shared look started after `since` reads what this waiter needs, and tells it.
    let since: number;
    if (found) {
      since = lookedAt; // a joiner with its row, short of its caller's: a look since its last skip (one that failed never tells)
    } else if (byWake) {
      if (!woken) return null; // the tick was for a caller's row, settled above
      woken = false;
      since = wokenAt;
    } else {
      // At the deadline a joiner not told its caller yet looks itself: a look in flight is not awaited.
      since = !confirmed && waiter.caller?.row === undefined && Date.now() >= deadline ? Infinity : lookedAt;
    }
    if (lastSharedLookAt > since) {
      lookedAt = Math.max(lookedAt, lastSharedLookAt);
      return null;
    }
    lookedAt = Date.now();
    await sharedLook(db, database, waiter);
    return settle();
  };
  const set = listeners.get(userId) ?? new Set<Waiter>();
  set.add(waiter);
  listeners.set(userId, set);
  databases.set(userId, database);
  const leave = () => {
    set.delete(waiter);
    if (set.size === 0 && listeners.get(userId) === set) {
      listeners.delete(userId);
      databases.delete(userId);
      streamRevisions.delete(userId);
      readModelRevisions.delete(userId);
    }
  };
  // A client that hangs up cancels its request: the code after the wait (the `finally`) never
  // runs, so the abort event is where the waiter leaves.
  signal?.addEventListener("abort", leave, { once: true });
  try {
    const result = await waitWithBackoff(look, {
      waitMs,
      policy: options.policy ?? (joining ? JOIN_POLICY : WAIT_POLICY),
      signal,
      woken: () => woken || found !== null || (waiter.caller?.row !== undefined && !confirmed),
      tick: WAKE_TICKS,
    });
    if (result) return result;
    if (signal?.aborted) return "timeout";
    // Nothing is answered unconfirmed: a joiner whose caller no look has read yet looks once more.
    if (!confirmed && waiter.caller?.row === undefined) await sharedLook(db, database, waiter);
    return (await settle()) ?? "timeout";
  } finally {
    signal?.removeEventListener("abort", leave);
    leave();
  }
}
