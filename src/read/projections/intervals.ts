import { ERASED, type PublicEvent } from "../../domain/events";
import { changesOf } from "../../domain/fields";
import { userIntervals, type UserIntervalRow } from "../schema";
import { rowLogProjection, type Folded } from "./row-log";

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
): Folded<UserIntervalRow, IntervalState> {
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

/**
 * `user_intervals`: who each user was (username, email, status, role) over time, for
 * `GET /admin/users/?as_of=T` (src/read/as-of.ts). Checkpointed in `checkpoints` like the audit log.
 */
export const intervalsProjection = rowLogProjection<UserIntervalRow, IntervalState>({
  name: "intervals",
  // Per user, beside the user's row (decision 0026).
  home: "user",
  table: userIntervals,
  key: ["user_id", "revision"],
  keep: "revision",
  // The open interval is written again when a later event closes it.
  onLiveConflict: "update",
  fold: foldIntervals,
  scrubSql: `UPDATE user_intervals SET username = '${ERASED}', email = '${ERASED}'
  WHERE user_id = ? AND (username IS NOT '${ERASED}' OR email IS NOT '${ERASED}')`,
});
