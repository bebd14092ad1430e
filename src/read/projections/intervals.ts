import { and, getTableColumns, gt, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ERASED, type PublicEvent } from "../../domain/events";
import { changesOf } from "../../domain/fields";
import { bulk, changed, JSON_IDS } from "../bulk";
import { userIntervals, type UserIntervalRow } from "../schema";
import { checkpointSqlOf, loadCheckpoints, moveCheckpointSql, moveCheckpointsSql, upToHeadSql } from "./checkpoints";
import type { Projection, Step } from "./index";

const NAME = "intervals";

/** The user's open interval after the last event folded: the checkpoint's state. */
export type IntervalState = Omit<UserIntervalRow, "validTo">;

/**
 * The validity intervals as a pure fold: the rows to write (the interval `state` had open, once an
 * event closes it, then each interval opened here, the last one open) and the open interval after
 * `events`. An interval opens at USER_CREATED and at every event that sets the username, the email
 * or the status (role never changes after creation), whether or not the value differs: an erasure
 * turns earlier values into `[erased]`, and a rebuild from the erased stream must cut the same
 * intervals as the live projector did. After USER_ERASED every interval of the user reads
 * `[erased]` for username and email, which `scrub` applies to rows written earlier.
 */
export function foldIntervals(
  state: IntervalState | null,
  events: readonly PublicEvent[],
): { rows: UserIntervalRow[]; state: IntervalState | null; scrub: boolean } {
  const rows: UserIntervalRow[] = [];
  let open = state;
  let scrub = false;
  const close = (at: string) => {
    if (open) rows.push({ ...open, validTo: at });
  };
  for (const event of events) {
    if (event.event_type === "USER_CREATED") {
      close(event.timestamp);
      const { username, email, role } = event.data;
      open = {
        userId: event.aggregate_id,
        revision: event.revision,
        username,
        email,
        status: "active",
        role,
        validFrom: event.timestamp,
      };
      continue;
    }
    if (event.event_type === "USER_ERASED") scrub = true;
    const changes = changesOf(event, null);
    if (!("username" in changes || "email" in changes || "status" in changes)) continue;
    if (!open) {
      // An erasure with nothing before it names no one; anything else first is a broken stream.
      if (event.event_type === "USER_ERASED") continue;
      throw new Error(
        `intervals: ${event.event_type} at revision ${event.revision} of ${event.aggregate_id} precedes USER_CREATED`,
      );
    }
    close(event.timestamp);
    open = {
      userId: open.userId,
      revision: event.revision,
      username: changes.username ?? open.username,
      email: changes.email ?? open.email,
      status: changes.status ?? open.status,
      role: open.role,
      validFrom: event.timestamp,
    };
  }
  if (open && open !== state) rows.push({ ...open, validTo: null });
  if (scrub) {
    for (const row of rows) Object.assign(row, { username: ERASED, email: ERASED });
    if (open) open = { ...open, username: ERASED, email: ERASED };
  }
  return { rows, state: open, scrub };
}

/** The table's columns (drizzle key → SQL name), so the statements below cannot miss one. */
const COLUMNS = Object.entries(getTableColumns(userIntervals)).map(([key, column]) => ({
  key: key as keyof UserIntervalRow,
  name: column.name,
}));
function columnsOf(row: UserIntervalRow): Record<string, unknown> {
  return Object.fromEntries(COLUMNS.map((c) => [c.name, row[c.key]]));
}
const KEY = ["user_id", "revision"];
const INSERT_FROM_JSON = `INSERT INTO user_intervals (${COLUMNS.map((c) => c.name).join(", ")})
  SELECT ${COLUMNS.map((c) => `j.value ->> '$.${c.name}'`).join(", ")} FROM json_each(?1) j`;
/** A row already there (a redelivery, a rebuild, an interval closed now) takes the incoming values. */
const UPSERT = `ON CONFLICT (user_id, revision) DO UPDATE SET ${COLUMNS.filter((c) => !KEY.includes(c.name))
  .map((c) => `${c.name} = excluded.${c.name}`)
  .join(", ")}
  WHERE ${changed(
    "user_intervals",
    COLUMNS.map((c) => c.name),
  )}`;

/** Live: the user's rows (`?1`), written only while its checkpoint (`?2`) is still the one planned from (`?3`). */
const INSERT_PLANNED = `${INSERT_FROM_JSON}
  WHERE coalesce(${checkpointSqlOf(NAME, "?2")}, 0) = ?3
  ${UPSERT}`;
const MOVE_CHECKPOINT = moveCheckpointSql(NAME);
const SCRUB = `UPDATE user_intervals SET username = '${ERASED}', email = '${ERASED}'
  WHERE user_id = ? AND (username IS NOT '${ERASED}' OR email IS NOT '${ERASED}')`;

const UP_TO_HEAD = upToHeadSql(NAME);
/** Rebuild: each JSON row is a user with its `head` and the revisions that open its `intervals`; other rows go. */
const DELETE_UP_TO_HEAD = `DELETE FROM user_intervals
  WHERE user_id IN (SELECT j.value ->> '$.user_id' FROM json_each(?1) j WHERE ${UP_TO_HEAD})
    AND (user_id, revision) NOT IN (SELECT j.value ->> '$.user_id', r.value FROM json_each(?1) j, json_each(j.value, '$.intervals') r)`;
const UPSERT_UP_TO_HEAD = `${INSERT_FROM_JSON} WHERE ${UP_TO_HEAD}
  ${UPSERT}`;
const MOVE_CHECKPOINTS = moveCheckpointsSql(NAME);

/**
 * `user_intervals`: who each user was (username, email, status, role) over time, for
 * `GET /admin/users/?as_of=T` (src/read/as-of.ts). Checkpointed in `checkpoints` like the audit log.
 */
export const intervalsProjection: Projection<IntervalState | null> = {
  name: NAME,
  checkpointSql: (user) => checkpointSqlOf(NAME, user),

  load: (db, userIds) => loadCheckpoints<IntervalState | null>(db, NAME, userIds),

  plan(db, userId, from, events) {
    const step: Step = { statements: [], guard: null };
    if (events.length === 0) return step;
    const at = from?.revision ?? 0;
    const { rows, state, scrub } = foldIntervals(from?.state ?? null, events);
    // Written only while the checkpoint is still `at`: a consumer that lost the race writes nothing.
    step.statements.push(...bulk(db, INSERT_PLANNED, rows.map(columnsOf), userId, at));
    if (scrub) step.statements.push(db.prepare(SCRUB).bind(userId));
    step.guard = step.statements.length;
    const newest = events[events.length - 1]!.revision;
    step.statements.push(db.prepare(MOVE_CHECKPOINT).bind(userId, newest, JSON.stringify(state), at));
    return step;
  },

  rebuild(db, streams) {
    const gone: string[] = [];
    const heads: { user_id: string; head: number; intervals: number[] }[] = [];
    const rows: Record<string, unknown>[] = [];
    const moves: { user_id: string; revision: number; state: string }[] = [];
    for (const { userId, events } of streams) {
      if (events.length === 0) {
        gone.push(userId);
        continue;
      }
      const head = events[events.length - 1]!.revision;
      const folded = foldIntervals(null, events);
      heads.push({ user_id: userId, head, intervals: folded.rows.map((row) => row.revision) });
      rows.push(...folded.rows.map((row) => ({ ...columnsOf(row), head })));
      moves.push({ user_id: userId, revision: head, state: JSON.stringify(folded.state) });
    }
    // Only forward: a user the live consumer already projected past this stream read is left alone.
    return [
      ...bulk(db, `DELETE FROM user_intervals WHERE user_id IN ${JSON_IDS}`, gone),
      ...bulk(db, `DELETE FROM checkpoints WHERE projection = '${NAME}' AND user_id IN ${JSON_IDS}`, gone),
      ...bulk(db, DELETE_UP_TO_HEAD, heads),
      ...bulk(db, UPSERT_UP_TO_HEAD, rows),
      ...bulk(db, MOVE_CHECKPOINTS, moves),
    ];
  },

  async userIdsBetween(db, after, upTo) {
    const rows = await drizzle(db)
      .selectDistinct({ id: userIntervals.userId })
      .from(userIntervals)
      .where(and(gt(userIntervals.userId, after), upTo === null ? undefined : lte(userIntervals.userId, upTo)));
    return rows.map((row) => row.id);
  },
};
