import { z } from "@hono/zod-openapi";
import { httpError } from "../../http/errors";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { listDeadLetters, redriveDeadLetter } from "../../read/dead-letters";
import { adminRoute } from "../auth";

const DeadLetter = z
  .object({
    id: z.number().int(),
    message_id: z.string(),
    aggregate_id: z.string().nullable(),
    revision: z.number().int().nullable(),
    body: z.string(),
    error: z.string(),
    attempts: z.number().int(),
    failed_at: z.string(),
  })
  .openapi("DeadLetter");

const list = adminRoute({
  method: "get",
  path: "/",
  summary: "Events the projector gave up on, newest first, with the error",
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
  responses: { ...jsonResponse(z.object({ results: z.array(DeadLetter) }), "Dead letters"), ...errors(401, 403) },
});

const redrive = adminRoute({
  method: "post",
  path: "/{id}/redrive",
  summary: "Send one dead letter back through the projector",
  request: { params: z.object({ id: z.coerce.number().int().min(1) }) },
  responses: { ...jsonResponse(z.object({ message: z.string() }), "Re-driven"), ...errors(400, 401, 403, 404) },
});

/** `/admin/dead-letters`: what the projector gave up on. */
export const deadLetters = createRouter()
  .openapi(list, async (c) => {
    const rows = await listDeadLetters(c.env.DB, { state: "open", limit: c.req.valid("query").limit });
    const results = rows.map((row) => ({
      id: row.id,
      message_id: row.messageId,
      aggregate_id: row.aggregateId,
      revision: row.revision,
      body: row.body,
      error: row.error,
      attempts: row.attempts,
      failed_at: row.failedAt,
    }));
    return c.json({ results }, 200);
  })
  .openapi(redrive, async (c) => {
    const { id } = c.req.valid("param");
    if ((await redriveDeadLetter(c.env.DB, c.env.EVENTS, id)) === "not_found") {
      throw httpError(404, "Dead letter not found");
    }
    return c.json({ message: "Dead letter re-driven" }, 200);
  });
