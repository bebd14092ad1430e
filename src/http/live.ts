import { createMiddleware } from "hono/factory";
import type { Context } from "hono";
import { WATCH_HEADER, type WatchRequest } from "../live/protocol";
import { actorOf, authenticated } from "./auth";
import type { AppEnv } from "./context";
import { ApiError, httpError } from "./errors";
import { userStream } from "../objects";

/**
 * Live routes take the usual bearer token, or, for browsers (which cannot set headers on a
 * WebSocket), `?ticket=` from `POST /v1/auth/ticket/`: single use, 30 s, never the token itself.
 */
export const liveCredential = createMiddleware<AppEnv>(async (c, next) => {
  const ticket = c.req.query("ticket");
  if (c.req.header("Authorization") !== undefined || ticket === undefined) return authenticated(c, next);
  const [userId, secret] = ticket.split(/\.(.*)/s);
  if (!userId || !secret || !UUID.test(userId)) throw httpError(401, "Could not validate credentials");
  const found = await userStream(c.env, userId).redeemTicket(secret, Date.now());
  if (!found) throw httpError(401, "Invalid, used or expired ticket");
  c.set("actor", actorOf(found.user, found.revision));
  await next();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Hands an authorised upgrade to the object that will hold the socket, telling it who watches.
 * The object's own refusals (no such stream, from_revision past its end) become the contract's
 * errors; a 101 goes back to the client as it is.
 */
export async function upgradeTo(
  c: Context<AppEnv>,
  object: { fetch(request: Request): Promise<Response> },
  fromRevision: number | null,
): Promise<Response> {
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, {
      error: "Upgrade Required",
      message: "This endpoint speaks WebSocket: send Upgrade: websocket",
      type: "UpgradeRequired",
    });
  }
  const watch: WatchRequest = { watcher: c.get("actor").id, authRevision: c.get("actor").revision, fromRevision };
  const res = await object.fetch(
    new Request(c.req.url, { headers: { Upgrade: "websocket", [WATCH_HEADER]: JSON.stringify(watch) } }),
  );
  if (res.status === 404) throw httpError(404, "User not found");
  if (res.status === 422) {
    const head = res.headers.get("x-revision");
    throw new ApiError(422, {
      error: "Request Validation Error",
      message: "Request validation failed",
      type: "RequestValidationError",
      details: [
        {
          loc: ["query", "from_revision"],
          msg: `Input should be at most the stream's next revision, ${Number(head) + 1}`,
          type: "less_than_equal",
        },
      ],
    });
  }
  return res;
}
