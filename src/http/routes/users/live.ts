import { z } from "@hono/zod-openapi";
import { CLOSE } from "../../../live/protocol";
import { httpError } from "../../errors";
import { liveCredential, upgradeTo } from "../../live";
import { guardedRoutes, type RouterWith } from "../../router";
import type { Schema } from "hono/types";
import { UserIdParams, errors } from "../../schemas";
import { userStream } from "../../../objects";

const closeCodes = Object.values(CLOSE)
  .map(({ code, reason }) => `${code} "${reason}"`)
  .join(", ");

const LiveQuery = z.object({
  from_revision: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .openapi({ description: "Send the stored events from this revision first; without it, only new events." }),
  ticket: z.string().max(200).optional().openapi({ description: "A ticket from POST /v1/auth/ticket/ (browsers)." }),
});

const liveRoute = guardedRoutes(liveCredential)({
  method: "get",
  path: "/{user_id}/events/live",
  summary: "WebSocket: the user's events from from_revision, then caught_up, then each new event (self or admin)",
  description: `Text frames: one \`Event\` each, and once \`{"type":"caught_up","revision":r}\`. Send "ping" to get "pong". Close codes: ${closeCodes}. Bearer token, or \`?ticket=\` for browsers. See docs/live-events.md.`,
  request: { params: UserIdParams, query: LiveQuery },
  responses: {
    101: { description: "Switching Protocols: the socket is open" },
    ...errors(400, 401, 403, 404, 422, 426),
  },
});

/** `GET /v1/users/{id}/events/live`: served by the user's own object. */
export const userLive = <S extends Schema>(router: RouterWith<S>) =>
  router.openapi(liveRoute, async (c) => {
    const { user_id } = c.req.valid("param");
    const actor = c.get("actor");
    if (actor.role !== "admin" && actor.id !== user_id) {
      throw httpError(403, "Insufficient permissions. You can only watch your own events.");
    }
    return upgradeTo(c, userStream(c.env, user_id), c.req.valid("query").from_revision ?? null);
  });
