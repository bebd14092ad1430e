import { getTableColumns } from "drizzle-orm";
import { ERASED, PERSONAL_FIELDS, type PublicEvent } from "../../domain/events";
import { bulk, JSON_IDS } from "../bulk";
import { feed, type FeedRow } from "../schema";
import { checkpointSqlOf, loadCheckpoints, moveCheckpointSql, moveCheckpointsSql, upToHeadSql } from "./checkpoints";
import type { Projection, Step } from "./index";

const NAME = "feed";

/**
 * Each column but `position` (which the insert assigns) as SQL over `e`, the public event's JSON:
 * keyed by the table's own fields, so a column added to `feed` fails to compile until it is here.
 */
const FROM_EVENT = {
  eventId: "e ->> '$.id'",
  userId: "e ->> '$.aggregate_id'",
  revision: "e ->> '$.revision'",
  eventType: "e ->> '$.event_type'",
  timestamp: "e ->> '$.timestamp'",
  event: "e",
} satisfies Record<Exclude<keyof FeedRow, "position">, string>;
const COLUMNS = Object.entries(FROM_EVENT).map(([key, expression]) => ({
  name: getTableColumns(feed)[key as keyof typeof FROM_EVENT].name,
  expression,
}));

/**
 * The events of a JSON array (`?1`) of `{event, head?}`, appended in the array's order, which is
 * revision order per user: positions are handed out in insertion order, so that order is the feed's.
 * An event already in the feed keeps its row and position (a duplicate, a redelivery, a rebuild).
 */
function insertSql(where: string): string {
  return `INSERT INTO feed (${COLUMNS.map((c) => c.name).join(", ")})
  SELECT ${COLUMNS.map((c) => c.expression).join(", ")}
  FROM (SELECT j.key AS k, j.value -> '$.event' AS e, j.value FROM json_each(?1) j) j
  WHERE ${where} ORDER BY j.k
  ON CONFLICT (event_id) DO NOTHING`;
}

/** Live: written only while the user's (`?2`) checkpoint is still the one planned from (`?3`). */
const INSERT_PLANNED = insertSql(`coalesce(${checkpointSqlOf(NAME, "?2")}, 0) = ?3`);
const MOVE_CHECKPOINT = moveCheckpointSql(NAME);

/** Rebuild: only for users whose checkpoint is at most their stream's `head`, never behind the live consumer. */
const INSERT_UP_TO_HEAD = insertSql(upToHeadSql(NAME));
const MOVE_CHECKPOINTS = moveCheckpointsSql(NAME);

/**
 * A feed row's `event` as an erasure leaves the stream (`destroyPersonalData` in
 * src/write/event-store.ts): each personal field the event carries reads `[erased]`, and so does
 * the actor's username where the subject acted. An admin who acted on the subject stays named.
 */
const SCRUBBED = `CASE WHEN event ->> '$.metadata.actor_id' IS user_id AND event ->> '$.metadata.actor_username' IS NOT NULL
    THEN json_replace(${personalScrubbed()}, '$.metadata.actor_username', '${ERASED}')
    ELSE ${personalScrubbed()} END`;
function personalScrubbed(): string {
  // json_replace leaves a path the event lacks absent, so one list serves every event type.
  return `json_replace(event, ${PERSONAL_FIELDS.map((field) => `'$.data.${field}', '${ERASED}'`).join(", ")})`;
}
/** Rewrites the rows of the users in `?1` whose events still show personal data; positions stay. */
const SCRUB = `UPDATE feed SET event = ${SCRUBBED} WHERE user_id IN ${JSON_IDS} AND event IS NOT ${SCRUBBED}`;

const erases = (events: readonly PublicEvent[]) => events.some((event) => event.event_type === "USER_ERASED");

/**
 * The feed: every event of every user, once, in the order the read side took them in, for other
 * services (`GET /admin/feed`, webhook subscriptions). Rows are only ever added, never deleted or
 * renumbered: a subscriber's checkpoint is a position, and must stay true. The one rewrite is an
 * erasure's, in place.
 */
export const feedProjection: Projection<null> = {
  name: NAME,
  // One order for the whole service: only `DB` hands out positions (decision 0026).
  home: "service",
  checkpointSql: (user) => checkpointSqlOf(NAME, user),

  load: (db, userIds) => loadCheckpoints<null>(db, NAME, userIds),

  plan(db, userId, from, events) {
    const step: Step = { statements: [], guard: null };
    if (events.length === 0) return step;
    const at = from?.revision ?? 0;
    // Written only while the checkpoint is `at`, so a user's revisions go in one after the other:
    // a consumer that lost the race to a concurrent one writes nothing and retries on top of it.
    step.statements.push(
      ...bulk(
        db,
        INSERT_PLANNED,
        events.map((event) => ({ event })),
        userId,
        at,
      ),
    );
    if (erases(events)) step.statements.push(db.prepare(SCRUB).bind(JSON.stringify([userId])));
    step.guard = step.statements.length;
    const newest = events[events.length - 1]!.revision;
    step.statements.push(db.prepare(MOVE_CHECKPOINT).bind(userId, newest, "null", at));
    return step;
  },

  rebuild(db, streams) {
    const rows: { user_id: string; head: number; event: PublicEvent }[] = [];
    const moves: { user_id: string; revision: number; state: string }[] = [];
    const erased: string[] = [];
    for (const { userId, events } of streams) {
      // A user without a stream keeps its rows: what subscribers were shown stays where it was.
      if (events.length === 0) continue;
      const head = events[events.length - 1]!.revision;
      rows.push(...events.map((event) => ({ user_id: userId, head, event })));
      moves.push({ user_id: userId, revision: head, state: "null" });
      if (erases(events)) erased.push(userId);
    }
    return [
      // Only the missing rows, appended after every position handed out so far.
      ...bulk(db, INSERT_UP_TO_HEAD, rows),
      // Rows written before an erasure that the live scrub did not reach (it always does; a rebuild repairs).
      ...bulk(db, SCRUB, erased),
      ...bulk(db, MOVE_CHECKPOINTS, moves),
    ];
  },

  // Ghosts (rows without a stream) are for a rebuild to clear, and the feed clears none of its rows.
  userIdsBetween: () => Promise.resolve([]),
};
