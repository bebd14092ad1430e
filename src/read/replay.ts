import type { PublicEvent } from "../domain/events";
import { resolveAllStatements } from "./dead-letters";
import { confirmAllStatements, forgetStreamsStatements } from "./ledger";
import { PROJECTIONS, type Projection, type UserStreamRead } from "./projections";
import { userStream } from "../objects";
import { reapplyErasures } from "./erasures";

const STREAM_PAGE = 500;
/**
 * Streams read at once: enough to keep many objects busy, few enough that a step's RPCs stay far
 * below an invocation's subrequest limit and its memory holds.
 */
const STREAMS_IN_FLIGHT = 50;

/** A user's whole stream, redacted, paged through the object's RPC. */
export async function readWholeStream(env: Env, userId: string): Promise<PublicEvent[]> {
  const stream = userStream(env, userId);
  const events: PublicEvent[] = [];
  for (let from = 1; ; from += STREAM_PAGE) {
    const page = await stream.readStream(from, STREAM_PAGE);
    events.push(...page);
    if (page.length < STREAM_PAGE) return events;
  }
}

/** The streams of these users, read `STREAMS_IN_FLIGHT` at a time, in the order given. */
async function readStreams(env: Env, userIds: readonly string[]): Promise<UserStreamRead[]> {
  const streams: UserStreamRead[] = new Array<UserStreamRead>(userIds.length);
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < userIds.length; i = next++) {
      streams[i] = { userId: userIds[i]!, events: await readWholeStream(env, userIds[i]!) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(STREAMS_IN_FLIGHT, userIds.length) }, reader));
  return streams;
}

/**
 * Makes these users' part of the projections equal to their streams, without side effects: mail is
 * never sent from here. Rows only move forward (the live projector may have applied a newer event
 * meanwhile); a user without a stream loses its rows. One D1 batch (one transaction) for all of
 * them, each write a statement over every user at once (see `bulk`).
 */
export async function rebuildUsers(
  env: Env,
  userIds: readonly string[],
  projections: readonly Projection[] = PROJECTIONS,
): Promise<{ users: number; events: number }> {
  // The erasure ledger first: a stream restored to before its erasure is erased again, not projected.
  const streams = await reapplyErasures(env, await readStreams(env, userIds), (id) => readWholeStream(env, id));
  const live = streams.filter((s) => s.events.length > 0).map((s) => s.userId);
  const ghosts = streams.filter((s) => s.events.length === 0).map((s) => s.userId);
  const statements = [
    ...projections.flatMap((projection) => projection.rebuild(env.DB, streams)),
    ...forgetStreamsStatements(env.DB, ghosts),
    ...resolveAllStatements(env.DB, live, new Date().toISOString()),
    ...confirmAllStatements(
      env.DB,
      live.map((userId) => ({ user_id: userId, at: 0 })),
    ),
  ];
  if (statements.length > 0) await env.DB.batch(statements);
  return { users: userIds.length, events: streams.reduce((n, s) => n + s.events.length, 0) };
}

/**
 * Ghosts: users with rows in these projections, ids in (`after`, `upTo`] (`upTo` null: no end),
 * that the directory did not list (`listed`). Rebuilding them from their (empty) streams removes
 * their rows.
 */
export async function findGhosts(
  env: Env,
  projections: readonly Projection[],
  range: { after: string; upTo: string | null },
  listed: ReadonlySet<string>,
): Promise<string[]> {
  const found = await Promise.all(projections.map((p) => p.userIdsBetween(env.DB, range.after, range.upTo)));
  return [...new Set(found.flat())].filter((id) => !listed.has(id));
}
