import { z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../http/context";
import { httpError } from "../../http/errors";
import { liveCredential, upgradeTo } from "../../http/live";
import { createRouter, guardedRoutes } from "../../http/router";
import { errors } from "../../http/schemas";
import { FEED_NAME } from "../../live/feed";

/** An admin's bearer token or ticket: browsers cannot set headers on a WebSocket. */
const adminLiveCredential = createMiddleware<AppEnv>(async (c, next) =>
  liveCredential(c, async () => {
    if (c.var.actor.role !== "admin") throw httpError(403, "Insufficient permissions. Admin role required.");
    await next();
  }),
);

const feedRoute = guardedRoutes(adminLiveCredential)({
  method: "get",
  path: "/live",
  summary: "WebSocket (admin): every user's events as the projector commits them; live only, no history",
  description: "Same frames, ping and close codes as /v1/users/{id}/events/live. See docs/live-events.md.",
  request: { query: z.object({ ticket: z.string().max(200).optional() }) },
  responses: { 101: { description: "Switching Protocols: the socket is open" }, ...errors(401, 403, 426) },
});

/** `/admin/events`: the live feed of every user's projected events. */
export const adminEvents = createRouter().openapi(feedRoute, async (c) =>
  upgradeTo(c, c.env.LIVE_FEED.getByName(FEED_NAME), null),
);
