import { z } from "@hono/zod-openapi";
import { ApiError, httpError } from "../../http/errors";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { listDeadLetters, redriveDeadLetter } from "../../read/dead-letters";
import { adminRoute } from "../auth";
import { erasedAmong } from "../../read/erasures";
import { eventQueueOf, shards } from "../../shards";
import { DeadLetterPage } from "../schemas";

const list = adminRoute({
  method: "get",
  path: "/",
  summary: "Events the projector gave up on, newest first, each with its failures",
  request: {
    query: z.object({
      state: z.enum(["open", "redriven", "resolved", "all"]).default("open"),
      user_id: z.uuid().optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: z.coerce.number().int().min(1).optional().openapi({ description: "`next_cursor` of the previous page" }),
    }),
  },
  responses: {
    ...jsonResponse(DeadLetterPage, "Dead letters"),
    ...errors(401, 403, 422),
  },
});

const redrive = adminRoute({
  method: "post",
  path: "/{id}/redrive",
  summary:
    "Send one dead letter back through the projector; a resolved one, or one too large for a queue message, is refused (409); " +
    "one holding an event from before an erasure the erasure ledger lists is deleted, not sent (409 `UserErased`)",
  request: { params: z.object({ id: z.coerce.number().int().min(1) }) },
  responses: { ...jsonResponse(z.object({ message: z.string() }), "Re-driven"), ...errors(400, 401, 403, 404, 409) },
});

/** `/admin/dead-letters`: what the projector gave up on, and its history. */
export const deadLetters = createRouter()
  .openapi(list, async (c) => {
    const query = c.req.valid("query");
    const rows = await listDeadLetters(c.env.DB, {
      state: query.state === "all" ? undefined : query.state,
      userId: query.user_id,
      before: query.cursor,
      limit: query.limit,
    });
    const results = rows.map((row) => ({
      id: row.id,
      message_id: row.messageId,
      aggregate_id: row.aggregateId,
      revision: row.revision,
      projection: row.projection,
      state: row.state,
      exhaustions: row.exhaustions,
      attempts: row.attempts,
      first_error: row.firstError,
      first_failed_at: row.firstFailedAt,
      error: row.error,
      failed_at: row.failedAt,
      redriven_at: row.redrivenAt,
      resolved_at: row.resolvedAt,
      history: row.history.map((h) => ({ failed_at: h.failedAt, error: h.error, attempts: h.attempts })),
      body: row.body,
    }));
    const next = rows.length === query.limit ? (rows[rows.length - 1]?.id ?? null) : null;
    return c.json({ results, next_cursor: next }, 200);
  })
  .openapi(redrive, async (c) => {
    const { id } = c.req.valid("param");
    const erasedBefore = async (userId: string, revision: number | null) => {
      const entry = (await erasedAmong(c.env, [userId])).get(userId);
      return entry !== undefined && (revision === null || revision < entry.revision);
    };
    // Back to its user's queue, as the user's object sends; a letter with no user (a message that
    // did not parse) to the first: any consumer records it again as it is.
    const queueOf = (userId: string | null) =>
      userId === null ? shards(c.env).queues[0]! : eventQueueOf(c.env, userId);
    const outcome = await redriveDeadLetter(c.env.DB, queueOf, id, erasedBefore);
    if (outcome === "not_found") throw httpError(404, "Dead letter not found");
    if (outcome === "erased") {
      throw new ApiError(409, {
        error: "Resource Conflict",
        message: `Dead letter ${id} holds an event of an erased user: it is not re-driven, and it is deleted (erasure ledger)`,
        type: "UserErased",
        details: { id },
      });
    }
    if (outcome === "resolved") {
      throw new ApiError(409, {
        error: "Resource Conflict",
        message: `Dead letter ${id} is resolved: its event is already projected, there is nothing to redrive`,
        type: "DeadLetterResolved",
        details: { id, state: "resolved" },
      });
    }
    if (outcome === "too_large") {
      throw new ApiError(409, {
        error: "Resource Conflict",
        message: `Dead letter ${id} holds an event larger than a queue message: it cannot be re-driven; it is projected with its user's next event, read from the user's object`,
        type: "DeadLetterTooLarge",
        details: { id },
      });
    }
    return c.json({ message: "Dead letter re-driven" }, 200);
  });
