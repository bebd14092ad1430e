import { z } from "@hono/zod-openapi";
import { REQUEST_ID } from "../../http/app";
import { notACursor } from "../../http/request-validation";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { decodeRefusalCursor, encodeRefusalCursor, queryRefusals, suppressedRefusals } from "../../read/refusals";
import { adminRoute } from "../auth";
import { timeWindowPage } from "./time-window";
import { refusalEntryOf } from "../refusal-entry";
import { RefusalPage } from "../refusal-schemas";

const RefusalQuery = z.object({
  user_id: z.uuid().optional().openapi({ description: "The target: refusals of commands aimed at this user" }),
  actor: z
    .union([z.uuid(), z.literal("anonymous")])
    .optional()
    .openapi({ description: "The acting user's id, or `anonymous`" }),
  request_id: z.string().regex(REQUEST_ID).optional().openapi({ description: "`X-Request-Id` of the request" }),
  ...timeWindowPage,
});

const list = adminRoute({
  method: "get",
  path: "/",
  summary:
    "Refused commands (401, 403, 409, 412, 422, 429 on a command route), newest first: outside every user's stream, bounded per actor and target",
  request: { query: RefusalQuery },
  responses: { ...jsonResponse(RefusalPage, "Refusals"), ...errors(401, 403, 422) },
});

/** `/admin/refusals`: the refusals journal (src/read/refusals.ts). */
export const refusalRoutes = createRouter().openapi(list, async (c) => {
  const query = c.req.valid("query");
  const cursor = query.cursor === undefined ? undefined : decodeRefusalCursor(query.cursor);
  if (cursor === null) throw notACursor();
  const filters = {
    userId: query.user_id?.toLowerCase(),
    actor: query.actor?.toLowerCase(),
    requestId: query.request_id,
    from: query.from,
    to: query.to,
    limit: query.limit,
    cursor,
  };
  const [{ rows, next }, suppressed] = await Promise.all([
    queryRefusals(c.env.DB, filters),
    suppressedRefusals(c.env.DB, filters),
  ]);
  return c.json(
    { results: rows.map(refusalEntryOf), next_cursor: next ? encodeRefusalCursor(next) : null, suppressed },
    200,
  );
});
