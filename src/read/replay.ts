import type { PublicEvent } from "../domain/events";
import { resolveStatement } from "./dead-letters";
import { confirmStatement } from "./ledger";
import { PROJECTIONS, type Projection } from "./projections";

const STREAM_PAGE = 500;
/** Statements per D1 batch of a rebuild step: users are never split across two. */
const STATEMENTS_PER_BATCH = 1_000;

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
 * Makes these users' part of the projections equal to their streams, without side effects: mail is
 * never sent from here. Rows only move forward (the live projector may have applied a newer event
 * meanwhile); a user without a stream loses its rows. Each user's writes commit together.
 */
export async function rebuildUsers(
  env: Env,
  userIds: string[],
  projections: readonly Projection[] = PROJECTIONS,
): Promise<{ users: number; events: number }> {
  const streams = await Promise.all(userIds.map((id) => readWholeStream(env, id)));
  const now = new Date().toISOString();
  let batch: D1PreparedStatement[] = [];
  for (const [i, userId] of userIds.entries()) {
    const stream = streams[i]!;
    batch.push(
      ...projections.flatMap((projection) => projection.rebuild(env.DB, userId, stream)),
      ...(stream.length === 0
        ? [env.DB.prepare("DELETE FROM streams WHERE user_id = ?").bind(userId)]
        : [resolveStatement(env.DB, userId, now), confirmStatement(env.DB, userId, 0)]),
    );
    if (batch.length >= STATEMENTS_PER_BATCH) {
      await env.DB.batch(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await env.DB.batch(batch);
  return { users: userIds.length, events: streams.reduce((n, events) => n + events.length, 0) };
}

/**
 * Ghosts: users with rows in these projections, ids in (`after`, `upTo`] (`upTo` null: no end),
 * that the directory did not list (`listed`). Each is rebuilt from its stream, which removes its
 * rows when it has none. Returns how many were found.
 */
export async function removeGhosts(
  env: Env,
  projections: readonly Projection[],
  range: { after: string; upTo: string | null },
  listed: ReadonlySet<string>,
): Promise<number> {
  const candidates = new Set<string>();
  for (const projection of projections) {
    for (const id of await projection.userIdsBetween(env.DB, range.after, range.upTo)) {
      if (!listed.has(id)) candidates.add(id);
    }
  }
  if (candidates.size > 0) await rebuildUsers(env, [...candidates], projections);
  return candidates.size;
}
