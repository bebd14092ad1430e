import { jitteredBackoff } from "../backoff";
import type { FeedEvent } from "../read/feed";
import type { DeliveryOutcome, Sink } from "./sink";
import { deliveryRow, dueHeads, finishDelivery, type DeliveryRow } from "./subscription-store";

/** Production opens at most 6 connections per invocation; more would only queue inside fetch. */
export const MAX_IN_FLIGHT = 6;
/**
 * Users' heads read per query: one read serves about this many deliveries. Reading one per
 * delivery was the round's largest single cost on the object's thread (BENCHMARKS.md).
 */
const HEADS_PER_READ = 2 * MAX_IN_FLIGHT;

export interface RetryPolicy {
  baseMs: number;
  capMs: number;
  maxAttempts: number;
}

export interface Round {
  sql: SqlStorage;
  sink: Sink;
  retry: RetryPolicy;
  /** Checked before each new delivery: a pause, a 410 or a deletion stops the round. */
  mayContinue: () => boolean;
  removed: () => boolean;
  /**
   * Changes when the user's delivery rows are rewritten (a redeliver, an erasure): the outcome of
   * a delivery sent before is then not recorded, and it is sent again as its row now reads.
   */
  rowsVersion: (userId: string) => number;
  /** Users whose rows are being rewritten right now: none of their deliveries is taken. */
  heldBack: () => Iterable<string>;
  /** After this, no new delivery starts; the caller comes back with an alarm. */
  deadline: number;
  /** Runs in the same turn as the delivery's record, so both are one step for the object. */
  onOutcome: (outcome: DeliveryOutcome, row: DeliveryRow) => void;
}

interface Sent {
  row: DeliveryRow;
  outcome: DeliveryOutcome;
  /** `round.rowsVersion(row.user_id)` when the row was read. */
  version: number;
  /** When the answer came. */
  at: number;
}

/**
 * Sends what is due: each user's oldest pending delivery only, so one user's events arrive in
 * revision order (a later one waits while an earlier one is pending or retrying), and up to
 * MAX_IN_FLIGHT users' deliveries at once. A delivery is marked delivered only after the
 * receiver's 2xx, in the object's SQLite: a crash before that leaves it pending, and it is sent
 * again with the same webhook-id. Returns whether the round stopped with work still due; returns
 * (or throws) only once nothing it sent is still out.
 *
 * Successes are written MAX_IN_FLIGHT at a time, in one synchronous step and so one commit:
 * locally a delivery's largest cost is its own SQLite commit (BENCHMARKS.md, "CPU per webhook
 * delivery"). Until written, a success's user stays busy, so neither its row nor the user's next
 * one is taken; no timer is involved, the batch is written when it is full, when nothing else is
 * due, and when the round ends. Failures are written at once, so their backoff holds (and
 * counted on the row as it is then, should it have been rewritten meanwhile).
 */
export async function deliverDue(round: Round): Promise<{ cutShort: boolean }> {
  const busyUsers = new Set<string>();
  const unwritten: Sent[] = [];
  let cutShort = false;
  /** A write failed: no new delivery starts, and the round ends once the others are back. */
  let broken = false;
  /** The answer the subscription's status last reflects: an older success must not overwrite a newer failure. */
  let notedAt = 0;

  const write = (sent: Sent[]) => {
    // Deleted meanwhile: its tables are gone, there is nothing left to record into.
    if (round.removed()) return;
    const written: Sent[] = [];
    for (const s of sent) {
      if (s.version === round.rowsVersion(s.row.user_id)) {
        written.push(s);
      } else if (s.outcome.outcome !== "delivered") {
        // The attempt happened all the same: counted, backed off (a 410 applied) on the row as it is now.
        const now = deliveryRow(round.sql, s.row.event_id);
        if (now) written.push({ ...s, row: now });
      }
      // A 2xx of a row rewritten meanwhile is not recorded: it goes again as the row now reads.
    }
    for (const s of written) recordOutcome(round, s.row, s.outcome);
    const noted = written.filter((s) => s.outcome.outcome !== "skipped");
    const latest = noted.reduce<Sent | null>((a, b) => (a && a.at > b.at ? a : b), null);
    // One note for the batch: the latest answer's (the status is the latest attempt's).
    if (latest && latest.at >= notedAt) {
      notedAt = latest.at;
      round.onOutcome(latest.outcome, latest.row);
    }
  };
  const writeAndRelease = (sent: Sent[]) => {
    try {
      write(sent);
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      for (const s of sent) busyUsers.delete(s.row.user_id);
    }
  };
  const writeUnwritten = () => writeAndRelease(unwritten.splice(0));

  /** Heads read ahead, each with its user's rows version when read. */
  let heads: { row: DeliveryRow; version: number }[] = [];
  // A head read ahead is its row as it is now unless the user's rows were rewritten since (a
  // redeliver, an erasure and a replay bump the version): such a head, and one of a user held back
  // now, is left for the next read, which sees the rows as they are then. (Never busy: a user
  // becomes busy only by taking its head from here.)
  const due = (): DeliveryRow | null => {
    const heldBack = new Set(round.heldBack());
    for (let head = heads.shift(); head; head = heads.shift()) {
      const userId = head.row.user_id;
      if (head.version === round.rowsVersion(userId) && !heldBack.has(userId)) return head.row;
    }
    heads = dueHeads(round.sql, Date.now(), [...busyUsers, ...heldBack], HEADS_PER_READ).map((row) => ({
      row,
      version: round.rowsVersion(row.user_id),
    }));
    return heads.shift()?.row ?? null;
  };
  const take = (): DeliveryRow | null => {
    if (unwritten.length >= MAX_IN_FLIGHT) writeUnwritten();
    if (broken || !round.mayContinue()) return null;
    if (Date.now() >= round.deadline) {
      cutShort = true;
      return null;
    }
    const row = due();
    if (row || unwritten.length === 0) return row;
    // Nothing free: perhaps only the users of unwritten successes have more.
    writeUnwritten();
    return due();
  };

  const worker = async () => {
    for (let row = take(); row; row = take()) {
      busyUsers.add(row.user_id);
      const version = round.rowsVersion(row.user_id);
      const outcome = await attempt(round.sink, row);
      const sent = { row, version, outcome, at: Date.now() };
      if (outcome.outcome === "delivered") unwritten.push(sent);
      else writeAndRelease([sent]);
    }
  };
  const workers = await Promise.allSettled(Array.from({ length: MAX_IN_FLIGHT }, worker));
  writeUnwritten();
  const failed = workers.find((w) => w.status === "rejected");
  if (failed) throw failed.reason;
  return { cutShort };
}

async function attempt(sink: Sink, row: DeliveryRow): Promise<DeliveryOutcome> {
  if (row.event === null) return { outcome: "skipped", reason: "event no longer held" };
  const held = { id: row.event_id, eventType: row.event_type, timestamp: row.event_at, json: row.event };
  try {
    if (sink.deliverHeld) return await sink.deliverHeld(held, row.attempts + 1);
    return await sink.deliver(JSON.parse(row.event) as FeedEvent, row.attempts + 1);
  } catch (error) {
    // A sink that throws is a failed attempt like any other, retried on the schedule.
    return { outcome: "retry", status: null, error: String(error).slice(0, 200), ms: 0 };
  }
}

function recordOutcome(round: Round, row: DeliveryRow, outcome: DeliveryOutcome): void {
  const attempts = row.attempts + 1;
  switch (outcome.outcome) {
    case "delivered":
    case "skipped":
      finishDelivery(round.sql, row.event_id, {
        state: "delivered",
        status: outcome.outcome === "delivered" ? outcome.status : null,
        error: null,
        nextAttemptAt: null,
      });
      break;
    case "retry": {
      const dead = attempts >= round.retry.maxAttempts;
      finishDelivery(round.sql, row.event_id, {
        state: dead ? "dead" : "pending",
        status: outcome.status,
        error: outcome.error,
        nextAttemptAt: dead ? null : Date.now() + jitteredBackoff(attempts, round.retry),
      });
      break;
    }
    case "gone":
      // Kept pending and due: if the subscription is turned back on, it goes first.
      finishDelivery(round.sql, row.event_id, {
        state: "pending",
        status: outcome.status,
        error: "410 Gone: subscription disabled",
        nextAttemptAt: Date.now(),
      });
      break;
  }
}
