import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { PublicEvent } from "../domain/events";
import { MAIL_SUBSCRIPTION_ID, type DeliveryView } from "../deliver/protocol";
import { subscription } from "../objects";
import { JSON_IDS } from "../read/bulk";
import { databaseOf, PROJECTIONS, type Projection } from "../read/projections";
import { byReadDatabase } from "../shards";
import { queryRefusals } from "../read/refusals";
import { auditLog } from "../read/schema";
import { auditEntryOf } from "./audit-entry";
import { refusalEntryOf } from "./refusal-entry";
import type { RequestTrail, TrailDelivery, TrailEvent, TrailMail, TrailRefusal } from "./request-schemas";

/**
 * A request's trail (`GET /admin/requests/{request_id}`): what one request caused, gathered from
 * where each part lives, without a write path of its own.
 *
 * - The events: the audit log's rows with that `request_id` (index `audit_by_request`), each with
 *   its feed position and public data. The audit log is itself a projection: until it has applied
 *   a request's events, the trail does not know them.
 * - When each projection applied them: projections keep a checkpoint per user, not a time per
 *   event, so each event is `applied` (the user's checkpoint is at or past its revision),
 *   `pending`, or `dead_letter` (an open dead letter holds it). `applied_at` is known only while
 *   the event is still the projection's newest (`projection_heads`), null otherwise.
 * - Mail: `sent_emails` rows of these events, and the mail subscription's deliveries of them that
 *   are still owed (pending or dead).
 * - Webhook deliveries: each subscription's object is asked about the user's deliveries in the
 *   range of the events' feed positions, through its `deliveries` RPC; at most
 *   `TRAIL_SUBSCRIPTIONS` subscriptions are asked.
 * - Refusals: the refusals journal's rows with that `request_id` (a refused command causes no
 *   event, so its trail is only these).
 */

/** A request causes a handful of events; an import far more: the trail lists this many. */
export const TRAIL_EVENTS = 100;
/** Subscriptions asked about their deliveries, oldest first. */
export const TRAIL_SUBSCRIPTIONS = 20;
/** Delivery rows one subscription is asked for per user: one page of its list. */
const MAX_DELIVERY_ROWS = 500;

interface HeadRow {
  projection: string;
  event_id: string;
  projected_at: string;
}

/** The trail of `requestId`, null when no event and no refusal carries it. */
export async function requestTrail(env: Env, requestId: string): Promise<RequestTrail | null> {
  const db = env.DB;
  const [rows, refused] = await Promise.all([
    drizzle(db)
      .select()
      .from(auditLog)
      .where(eq(auditLog.requestId, requestId))
      .orderBy(asc(auditLog.timestamp), asc(auditLog.userId), asc(auditLog.revision))
      .limit(TRAIL_EVENTS + 1),
    queryRefusals(db, { requestId, limit: TRAIL_EVENTS }),
  ]);
  const refusals: TrailRefusal[] = refused.rows.map((row) => {
    const { request_id: _, ...entry } = refusalEntryOf(row);
    return entry;
  });
  if (rows.length === 0) {
    if (refusals.length === 0) return null;
    const none = { checked: 0, truncated: false };
    return {
      request_id: requestId,
      events: [],
      truncated: false,
      mail: [],
      deliveries: [],
      subscriptions: none,
      refusals,
    };
  }
  const audit = rows.slice(0, TRAIL_EVENTS);
  const eventIds = audit.map((row) => row.eventId);
  const userIds = [...new Set(audit.map((row) => row.userId))];
  const ids = JSON.stringify(eventIds);
  const users = JSON.stringify(userIds);

  // Each projection's checkpoints where they live (decision 0026): those in `DB` within its batch,
  // those in other read databases read there meanwhile.
  const checkpointsIn = (on: D1Database, projection: Projection, ids: readonly string[]) =>
    on
      .prepare(`SELECT j.value AS user_id, ${projection.checkpointSql("j.value")} AS revision FROM json_each(?1) j`)
      .bind(JSON.stringify(ids));
  const checkpointStatements = PROJECTIONS.map((projection) =>
    checkpointsIn(
      db,
      projection,
      userIds.filter((id) => databaseOf(env, projection, id) === db),
    ),
  );
  const HEADS = "SELECT projection, event_id, projected_at FROM projection_heads";
  // The heads of projections living per user are in each read database: the user's tells its events.
  const farHeads = Promise.all(
    [...new Set(byReadDatabase(env, userIds, (id) => id).map((group) => group.db))]
      .filter((other) => other !== db)
      .map(async (other) => ({ db: other, rows: (await other.prepare(HEADS).all<HeadRow>()).results })),
  );
  const elsewhere = Promise.all(
    PROJECTIONS.flatMap((projection, i) =>
      byReadDatabase(env, userIds, (id) => id)
        .filter((group) => databaseOf(env, projection, group.items[0]!) !== db)
        .map(async (group) => ({ i, rows: (await checkpointsIn(group.db, projection, group.items).all()).results })),
    ),
  );
  const [results, far, otherHeads] = await Promise.all([
    db.batch([
      ...checkpointStatements,
      db.prepare(`SELECT event_id, position, event FROM feed WHERE event_id IN ${JSON_IDS}`).bind(ids),
      db.prepare(HEADS),
      db
        .prepare(
          `SELECT aggregate_id, revision, projection, error FROM dead_letters
         WHERE aggregate_id IN ${JSON_IDS} AND state != 'resolved'`,
        )
        .bind(users),
      db
        .prepare(
          `SELECT * FROM sent_emails WHERE user_id IN ${JSON_IDS} AND event_id IN (SELECT value FROM json_each(?2))`,
        )
        .bind(users, ids),
      db
        .prepare(`SELECT id, url, status FROM subscriptions ORDER BY created_at, id LIMIT ?1`)
        .bind(TRAIL_SUBSCRIPTIONS + 1),
    ]),
    elsewhere,
    farHeads,
  ]);
  const at = <T>(i: number) => (results[i]?.results ?? []) as T[];
  const n = checkpointStatements.length;
  const checkpoints = PROJECTIONS.map(
    (_, i) => new Map(at<{ user_id: string; revision: number | null }>(i).map((row) => [row.user_id, row.revision])),
  );
  for (const { i, rows } of far) {
    for (const row of rows as { user_id: string; revision: number | null }[])
      checkpoints[i]!.set(row.user_id, row.revision);
  }
  const feedRows = new Map(
    at<{ event_id: string; position: number; event: string }>(n).map((row) => [row.event_id, row]),
  );
  const headsIn = new Map<D1Database, Map<string, HeadRow>>([
    [db, new Map(at<HeadRow>(n + 1).map((row) => [row.projection, row]))],
    ...otherHeads.map(({ db: other, rows }) => [other, new Map(rows.map((row) => [row.projection, row]))] as const),
  ]);
  const letters = at<{ aggregate_id: string; revision: number | null; projection: string | null; error: string }>(
    n + 2,
  );
  const sent = at<{
    user_id: string;
    kind: string;
    recipient: string;
    subject: string;
    event_id: string;
    sent_at: string;
    message_id: string | null;
    attempts: number | null;
  }>(n + 3);
  const subscriptionRows = at<{ id: string; url: string; status: string }>(n + 4);

  const events: TrailEvent[] = audit.map((row) => {
    const feedRow = feedRows.get(row.eventId);
    return {
      ...auditEntryOf(row),
      position: feedRow?.position ?? null,
      data: feedRow ? (JSON.parse(feedRow.event) as PublicEvent).data : null,
      projections: PROJECTIONS.map((projection, i) => {
        const checkpoint = checkpoints[i]?.get(row.userId) ?? null;
        const head = headsIn.get(databaseOf(env, projection, row.userId))?.get(projection.name);
        const letter = letters.find(
          (l) =>
            l.aggregate_id === row.userId &&
            (l.projection === null || l.projection === projection.name) &&
            (l.revision === null || l.revision <= row.revision),
        );
        const applied = checkpoint !== null && checkpoint >= row.revision;
        return {
          name: projection.name,
          state: applied ? "applied" : letter ? "dead_letter" : "pending",
          checkpoint,
          applied_at: applied && head?.event_id === row.eventId ? head.projected_at : null,
          error: !applied && letter ? letter.error : null,
        };
      }),
    };
  });

  // Each subscription is asked, per user, for its deliveries at or below the user's newest event of
  // the request, newest first: the feed holds a user's events in revision order, so the rows down
  // to the user's oldest event of the request are at most (newest - oldest + 1) revisions' worth
  // (exactly the request's events when, as usual, they are consecutive; a caller that sent one
  // `X-Request-Id` with several commands may have others in between, which are filtered out).
  const ranges = userIds.flatMap((userId) => {
    const mine = events.filter((e) => e.user_id === userId && e.position !== null);
    if (mine.length === 0) return [];
    const revisions = mine.map((e) => e.revision);
    const span = Math.max(...revisions) - Math.min(...revisions) + 1;
    return [
      {
        userId,
        cursor: Math.max(...mine.map((e) => e.position!)) + 1,
        limit: Math.min(span, MAX_DELIVERY_ROWS),
      },
    ];
  });
  const wanted = new Set(eventIds);
  const deliveriesOf = async (id: string): Promise<DeliveryView[]> => {
    const stub = subscription(env, id);
    const pages = await Promise.all(
      ranges.map((range) => stub.deliveries({ userId: range.userId, cursor: range.cursor, limit: range.limit })),
    );
    return pages.flatMap((page) => page?.results ?? []).filter((d) => wanted.has(d.event_id));
  };
  const asked = subscriptionRows.slice(0, TRAIL_SUBSCRIPTIONS);
  const [mailDeliveries, ...webhookDeliveries] = await Promise.all([
    deliveriesOf(MAIL_SUBSCRIPTION_ID),
    ...asked.map((row) => deliveriesOf(row.id)),
  ]);

  const mail: TrailMail[] = sent.map((row) => ({
    event_id: row.event_id,
    user_id: row.user_id,
    kind: row.kind,
    state: "sent",
    recipient: row.recipient,
    subject: row.subject,
    sent_at: row.sent_at,
    message_id: row.message_id,
    attempts: row.attempts,
    last_error: null,
  }));
  for (const d of mailDeliveries) {
    if (d.state === "delivered") continue;
    mail.push({
      event_id: d.event_id,
      user_id: d.user_id,
      kind: "welcome",
      state: d.state,
      recipient: null,
      subject: null,
      sent_at: null,
      message_id: null,
      attempts: d.attempts,
      last_error: d.last_error,
    });
  }

  const deliveries: TrailDelivery[] = asked.flatMap((row, i) =>
    (webhookDeliveries[i] ?? []).map((d) => ({
      subscription_id: row.id,
      url: row.url,
      subscription_status: row.status,
      event_id: d.event_id,
      position: d.position,
      user_id: d.user_id,
      event_type: d.event_type,
      state: d.state,
      attempts: d.attempts,
      last_status: d.last_status,
      last_error: d.last_error,
      next_attempt_at: d.next_attempt_at,
    })),
  );

  return {
    request_id: requestId,
    events,
    truncated: rows.length > TRAIL_EVENTS,
    mail,
    deliveries,
    subscriptions: { checked: asked.length, truncated: subscriptionRows.length > TRAIL_SUBSCRIPTIONS },
    refusals,
  };
}
