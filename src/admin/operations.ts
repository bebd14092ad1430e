import { createRoute, z } from "@hono/zod-openapi";
import { listDeadLetters, redriveDeadLetter } from "../read/dead-letters";
import { httpError } from "../http/errors";
import { createRouter } from "../http/router";
import { errors, jsonResponse } from "../http/schemas";
import { adminOnly } from "./auth";
import { projectionStatus } from "./projection-status";

const security = [{ bearer: [] }];

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

const status = createRoute({
  method: "get",
  path: "/projections/status",
  summary: "Read-model lag: outbox backlog and its oldest entry, users behind, dead letters",
  security,
  middleware: [adminOnly] as const,
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(1000) }) },
  responses: {
    ...jsonResponse(
      z.object({
        users_total: z.number().int(),
        users_scanned: z.number().int(),
        users_behind: z.number().int(),
        outbox: z.object({ backlog: z.number().int(), oldest_age_ms: z.number().nullable() }),
        dead_letters: z.number().int(),
      }),
      "Projection status",
    ),
    ...errors(401, 403),
  },
});

const deadLetters = createRoute({
  method: "get",
  path: "/dead-letters",
  summary: "Events the projector gave up on, newest first, with the error",
  security,
  middleware: [adminOnly] as const,
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
  responses: { ...jsonResponse(z.object({ results: z.array(DeadLetter) }), "Dead letters"), ...errors(401, 403) },
});

const redrive = createRoute({
  method: "post",
  path: "/dead-letters/{id}/redrive",
  summary: "Send one dead letter back through the projector",
  security,
  middleware: [adminOnly] as const,
  request: { params: z.object({ id: z.coerce.number().int().min(1) }) },
  responses: { ...jsonResponse(z.object({ message: z.string() }), "Re-driven"), ...errors(400, 401, 403, 404) },
});

export const operations = createRouter()
  .openapi(status, async (c) => c.json(await projectionStatus(c.env, c.req.valid("query").limit), 200))
  .openapi(deadLetters, async (c) => {
    const rows = await listDeadLetters(c.env.DB, c.req.valid("query").limit);
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
    if (!(await redriveDeadLetter(c.env.DB, c.env.EVENTS, id))) throw httpError(404, "Dead letter not found");
    return c.json({ message: "Dead letter re-driven" }, 200);
  });
