import { jitteredBackoff } from "../backoff";
import type { FeedEvent } from "../read/feed";
import type { DeliveryOutcome, Sink } from "./sink";
import { deliveryRow, dueHeads, finishDelivery, type DeliveryRow } from "./subscription-store";

/** Production opens at most 6 connections per invocation; more would only queue inside fetch. */
export const MAX_IN_FLIGHT = 6;

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
   * Changes when a delivery's row may have been rewritten while it was sent (a replay, an erasure,
   * a new filter): its outcome is then not recorded, and it is sent again as the row now reads.
   */
  generation: () => number;
  /** After this, no new delivery starts; the caller comes back with an alarm. */
  deadline: number;
  /** Runs in the same turn as the delivery's record, so both are one step for the object. */
  onOutcome: (outcome: DeliveryOutcome, row: DeliveryRow) => void;
}

interface Sent {
  row: DeliveryRow;
  outcome: DeliveryOutcome;
  /** `round.generation()` when the row was read. */
  generation: number;
}

/**
 * Sends what is due: each user's oldest pending delivery only, so one user's events arrive in
 * revision order (a later one waits while an earlier one is pending or retrying), and up to
 * MAX_IN_FLIGHT users' deliveries at once. A delivery is marked delivered only after the
 * receiver's 2xx, in the object's SQLite: a crash before that leaves it pending, and it is sent
 * again with the same webhook-id. Returns whether the round stopped with work still due.
 *
 * Successes are written MAX_IN_FLIGHT at a time, in one synchronous step and so one commit:
 * locally a delivery's largest cost is its own SQLite commit (BENCHMARKS.md, "CPU per webhook
 * delivery"). Until written, a success's user stays busy, so neither its row nor the user's next
 * one is taken; no timer is involved, the batch is written when it is full, when nothing else is
 * due, and when the round ends. Failures are written at once.
 */
export async function deliverDue(round: Round): Promise<{ cutShort: boolean }> {
  const busyUsers = new Set<string>();
  const unwritten: Sent[] = [];
  let cutShort = false;

  const write = (sent: Sent[]) => {
    // Deleted meanwhile: its tables are gone, there is nothing left to record into.
    if (round.removed()) return;
    const current = sent.filter((s) => s.generation === round.generation());
    for (const s of current) recordOutcome(round, s.row, s.outcome);
    const last = current[current.length - 1];
    // One note for the batch: a success's note (the latest attempt, not failing) overwrites the one before.
    if (last) round.onOutcome(last.outcome, last.row);
  };
  const writeUnwritten = () => {
    const sent = unwritten.splice(0);
    try {
      write(sent);
    } finally {
      for (const s of sent) busyUsers.delete(s.row.user_id);
    }
  };

  const due = (): DeliveryRow | null => {
    const head = dueHeads(round.sql, Date.now(), MAX_IN_FLIGHT * 2).find((row) => !busyUsers.has(row.user_id));
    // Read in the same synchronous step as the choice: what is sent is the row as it is now.
    return head ? deliveryRow(round.sql, head.event_id) : null;
  };
  const take = (): DeliveryRow | null => {
    if (unwritten.length >= MAX_IN_FLIGHT) writeUnwritten();
    if (!round.mayContinue()) return null;
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
      const sent = { row, generation: round.generation(), outcome: await attempt(round.sink, row) };
      if (sent.outcome.outcome === "delivered") {
        unwritten.push(sent);
      } else {
        try {
          write([sent]);
        } finally {
          busyUsers.delete(row.user_id);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: MAX_IN_FLIGHT }, worker));
  } finally {
    writeUnwritten();
  }
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
