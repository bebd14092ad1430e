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

/**
 * Runs a query route's reads in one D1 session (the Sessions API): with read replication on, they
 * go to any replica at least as current as the bookmark the client sent back, so reads scale out
 * and a client never sees the read model go back in time. The response carries the new bookmark.
 * Called inside the handler, so 401 and 403 come before a bad bookmark's 400.
 */
export async function withReadSession<T>(c: Context<AppEnv>, read: (db: D1Reader) => Promise<T>): Promise<T> {
  const given = c.req.header(BOOKMARK_HEADER)?.trim();
  if (given && !BOOKMARK.test(given)) throw badRequest();
  const session = c.env.DB.withSession(given || "first-unconstrained");
  const result = await read(session);
  const bookmark = session.getBookmark();
  if (bookmark) c.header(BOOKMARK_HEADER, bookmark);
  return result;
}
