import type { PublicEvent } from "../domain/events";
import { upsertUserRows } from "./queries";
import type { UserRow } from "./schema";
import { projectUser } from "./user-projection";

const STREAM_PAGE = 500;

/** A user's whole stream, redacted, paged through the object's RPC. */
export async function readWholeStream(env: Env, userId: string): Promise<PublicEvent[]> {
  const stream = env.USER_STREAM.getByName(userId);
  const events: PublicEvent[] = [];
  for (let from = 1; ; from += STREAM_PAGE) {
    const page = await stream.readStream(from, STREAM_PAGE);
    events.push(...page);
    if (page.length < STREAM_PAGE) return events;
  }
}

/**
 * Rebuilds the read-model rows of these users from their streams, without side effects: mail is
 * never sent from here. A row only moves forward: the live projector may have applied a newer
 * event meanwhile, and the rebuilt row must not take it back.
 */
export async function rebuildRows(env: Env, userIds: string[]): Promise<{ users: number; events: number }> {
  const streams = await Promise.all(userIds.map((id) => readWholeStream(env, id)));
  const rows = streams
    .map((events) => events.reduce<UserRow | null>((row, event) => projectUser(row, event), null))
    .filter((row): row is UserRow => row !== null);
  const writes = upsertUserRows(env.DB, rows);
  if (writes.length > 0) await env.DB.batch(writes);
  return { users: userIds.length, events: streams.reduce((n, events) => n + events.length, 0) };
}
