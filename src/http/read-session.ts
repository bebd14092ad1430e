import type { Context } from "hono";
import type { D1Reader } from "../read/queries";
import type { AppEnv } from "./context";
import { badRequest } from "./errors";

export const BOOKMARK_HEADER = "x-d1-bookmark";

/**
 * D1 bookmarks are four dash-separated hex groups. Locally D1 accepts any string as a bookmark and
 * then returns it forever, so a malformed one is refused here rather than passed on.
 */
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/i;

/** The read's session on a database: one per database and request, opened when first asked for. */
export type SessionOf = (db: D1Database) => D1Reader;

/**
 * Runs a query route's reads in D1 sessions (the Sessions API): with read replication on, they go
 * to any replica at least as current as the bookmark the client sent back, so reads scale out and
 * a client never sees the read model go back in time. Called inside the handler, so 401 and 403
 * come before a bad bookmark's 400.
 *
 * `answeredFrom` is the database the answer is read from (a get: its user's), or the several a
 * list merges (docs/decisions/0026). A bookmark names one database: with one, the client's
 * bookmark starts its session and the response carries the new one; with several, none is used or
 * given. Any other database the read asks `sessionOf` for (the caller's row, to confirm its token)
 * opens unconstrained. In the default layout every read is `DB`'s one session, as before shards.
 *
 * The session is most of what a get costs beyond one bare query, at least locally. Under
 * `wrangler dev`, the local D1 object committed with an fsync for about every query in a session,
 * and for almost none of the same queries run outside one. That cost about 0.3 ms of the
 * runtime's CPU per query, over a bare query's 0.7 ms (issue 25). Production D1 was not measured.
 * The session stays anyway: the bookmark it returns is the contract's read scaling.
 */
export async function withReadSession<T>(
  c: Context<AppEnv>,
  answeredFrom: D1Database | readonly D1Database[],
  read: (sessionOf: SessionOf) => Promise<T>,
): Promise<T> {
  const given = c.req.header(BOOKMARK_HEADER)?.trim();
  if (given && !BOOKMARK.test(given)) throw badRequest();
  const databases: readonly D1Database[] = Array.isArray(answeredFrom) ? answeredFrom : [answeredFrom as D1Database];
  const bookmarked = databases.length === 1 ? databases[0] : undefined;
  const sessions = new Map<D1Database, D1DatabaseSession>();
  const sessionOf = (db: D1Database) => {
    let session = sessions.get(db);
    if (!session) {
      session = db.withSession((db === bookmarked && given) || "first-unconstrained");
      sessions.set(db, session);
    }
    return session;
  };
  const result = await read(sessionOf);
  const bookmark = bookmarked && sessions.get(bookmarked)?.getBookmark();
  if (bookmark) c.header(BOOKMARK_HEADER, bookmark);
  return result;
}
