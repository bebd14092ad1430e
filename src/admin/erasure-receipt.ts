import { deliveriesAbout } from "../deliver/personal-data";
import { deadLettersOf } from "../read/personal-data";
import { userStream } from "../objects";

/**
 * The erasure receipt (`POST /admin/users/{id}/erase`): what the erasure removed, and every place a
 * copy may still live, until when. `REMOVED` and `PLATFORM_COPIES` are the one source of the table
 * "Erasure: what still holds copies" in docs/security.md, which mirrors them row by row; the
 * receipt adds what only this user has (dead letters, subscriptions that received its events).
 */

const DAY_MS = 86_400_000;

/** Where the erasure removed the personal data: the object at once, the read side as it projects. */
export const REMOVED = [
  "stream", // the object's personal-data vault and snapshots: events read `[erased]`
  "identity_registry", // the username's and email's claims
  "read_model", // the users row: a `[erased]` tombstone
  "audit_log", // username and email of every row `[erased]`
  "feed", // personal fields of every event `[erased]`
  "mail", // recipient and body of sent mails `[erased]`
] as const;

export interface RemainingCopy {
  store: string;
  /** ISO time after which this copy is gone; null when no time bounds it (see `condition`). */
  until: string | null;
  what: string;
  condition: string;
}

interface PlatformCopy {
  store: string;
  /** Days after the erasure; null: no time bounds it. */
  days: number | null;
  what: string;
  condition: string;
}

/** Copies in every receipt: the platform's, and the search index's until its daily merge. */
export const PLATFORM_COPIES: readonly PlatformCopy[] = [
  {
    store: "queue",
    days: 4,
    what: "queue messages already sent: the events' personal fields",
    condition: "consumed in seconds; an undelivered one up to the queue's retention (4 days by default, 14 at most)",
  },
  {
    store: "durable_object_restore_points",
    days: 30,
    what: "the user's object as it was before: its point-in-time recovery history",
    condition:
      "30 days of point-in-time recovery; after a restore, a replay or full rebuild erases it again (erasure ledger)",
  },
  {
    store: "d1_time_travel",
    days: 30,
    what: "the read model, audit log, feed and mail as they were before: D1 Time Travel",
    condition: "30 days (Workers Paid); after a restore, a full rebuild moves the rows forward to the erased stream",
  },
  {
    store: "search_index",
    days: 1,
    what: "trigrams of the username and email in the pages of the read model's search index, no longer searchable",
    condition: "until the daily merge of the index (the cron's first run after 03:00 UTC)",
  },
  {
    store: "local_wal",
    days: null,
    what: "local `wrangler dev` state only: old pages in the SQLite -wal files of the object and D1",
    condition: "until SQLite checkpoints and reuses the log; delete .wrangler/state to be sure",
  },
  {
    store: "exports",
    days: null,
    what: "every export (`GET /admin/export`) taken before the erasure",
    condition: "as long as whoever holds the file keeps it; an import of one ends the user erased (erasure ledger)",
  },
];

export interface ErasureReceipt {
  erased_at: string;
  removed: string[];
  remaining: RemainingCopy[];
}

/** The receipt of the erasure that made `revision` of the user's stream. */
export async function erasureReceipt(env: Env, userId: string, revision: number): Promise<ErasureReceipt> {
  // The erasure is done: a store that cannot answer now must not turn its answer into a 500 (a
  // retry would be refused as already erased), so it is named as one that may hold copies.
  const [[event] = [], letters = null, subscriptions = null] = await Promise.all([
    userStream(env, userId)
      .readStream(revision, 1)
      .catch(() => []),
    deadLettersOf(env.DB, userId).catch(() => null),
    deliveriesAbout(env, userId).catch(() => null),
  ]);
  const erasedAt = event?.event_type === "USER_ERASED" ? event.timestamp : new Date().toISOString();
  const at = Date.parse(erasedAt);
  const remaining: RemainingCopy[] = PLATFORM_COPIES.map(({ store, days, what, condition }) => ({
    store,
    until: days === null ? null : new Date(at + days * DAY_MS).toISOString(),
    what,
    condition,
  }));
  if (letters === null || letters > 0) {
    remaining.push({
      store: "dead_letters",
      until: null,
      what:
        letters === null
          ? "dead letters could not be counted just now: any may hold the user's events"
          : `${letters} dead letter(s) holding the user's events as they were published`,
      condition: "kept with their history until an operator removes them; no route deletes them",
    });
  }
  if (subscriptions === null) {
    remaining.push({
      store: "subscriptions",
      until: null,
      what: "the subscriptions could not be asked just now: any may have received the user's events",
      condition: "each receiver's own retention; each is sent USER_ERASED by the normal flow",
    });
  }
  for (const held of subscriptions ?? []) {
    if (held.pending.length > 0) {
      remaining.push({
        store: `subscription:${held.subscription_id}:pending`,
        until: null,
        what: `${held.pending.length} pending delivery(ies) to ${held.url} holding the user's events`,
        condition:
          "until the projector reaches the erasure (seconds), when each takes the feed's erased row; if the subscription cannot be reached then, until each is delivered or dead (WEBHOOK_MAX_ATTEMPTS retries)",
      });
    }
    if (held.delivered_any) {
      remaining.push({
        store: `subscription:${held.subscription_id}`,
        until: null,
        what: `the receiver at ${held.url} was sent the user's events`,
        condition: "the receiver's own retention; it is sent USER_ERASED by the subscription",
      });
    }
  }
  return { erased_at: erasedAt, removed: [...REMOVED], remaining };
}
