import { httpError } from "../../http/errors";
import { z } from "@hono/zod-openapi";
import { runCommand, runWithReason } from "../../http/commands";
import { notACursor } from "../../http/request-validation";
import { createRouter } from "../../http/router";
import { CommandHeaders, CommandResponse, UserIdParams, errors, jsonBody, jsonResponse } from "../../http/schemas";
import { readWholeStream, rebuildUsers } from "../../read/replay";
import { adminRoute } from "../auth";
import { erasureReceipt } from "../erasure-receipt";
import { recordErasureAt } from "../../read/erasures";
import { FIELD_MAX } from "../../domain/rules";
import { withReadSession } from "../../http/read-session";
import { parseInstant } from "../../http/routes/users/history";
import { decodeAsOfCursor, encodeAsOfCursor, queryAsOf } from "../../read/as-of";
import { UsersAsOfPage } from "../schemas";
import { listedReadDatabases, readDatabasesAskedAgain } from "../../shards";
import { leavePreviousPlaces } from "../../read/reshard";

const field = z.string().max(FIELD_MAX.correctedName);

const CorrectionBody = z
  .strictObject({
    changes: z
      .strictObject({
        username: z.string().max(FIELD_MAX.username).optional(),
        email: z.string().max(FIELD_MAX.email).optional(),
        first_name: field.optional(),
        last_name: field.optional(),
      })
      .openapi({ description: "The corrected values; username included, unlike a normal update" }),
    reason: z.string().min(1).max(FIELD_MAX.reason),
  })
  .openapi("CorrectionRequest");

const EraseBody = z
  .strictObject({
    reason: z.string().min(1).max(FIELD_MAX.reason).openapi({ example: "Data protection request #1234" }),
  })
  .openapi("EraseRequest");

const ERASED_MESSAGE = "User erased successfully";

/** The erase command's answer: the command's, with the receipt of what was removed and what remains. */
const ErasureResponse = CommandResponse.extend({
  erased_at: z.string().openapi({ description: "The time of the USER_ERASED event" }),
  removed: z.array(z.string()).openapi({ description: "The stores the personal data was removed from" }),
  remaining: z
    .array(
      z.object({
        store: z.string(),
        until: z
          .string()
          .nullable()
          .openapi({ description: "When this copy is gone at the latest; null: no time bounds it" }),
        what: z.string(),
        condition: z.string(),
      }),
    )
    .openapi({ description: "Every place a copy may still live, and until when (docs/security.md)" }),
}).openapi("ErasureReceipt");

/** Strict: a parameter this route does not know is refused (422), never silently ignored. */
const AsOfQuery = z
  .object({
    as_of: z.string().max(40).openapi({
      description: "ISO 8601; without a zone it is UTC (an unreadable one is a 400)",
      example: "2026-11-23T15:47:00Z",
    }),
    status: z.enum(["active", "suspended", "deleted", "erased"]).optional(),
    username: z.string().min(1).max(FIELD_MAX.username).optional().openapi({ description: "Exact, case-insensitive" }),
    email: z.string().min(1).max(FIELD_MAX.email).optional().openapi({ description: "Exact, case-insensitive" }),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(500).optional().openapi({ description: "`next_cursor` of the previous page" }),
  })
  .strict();

const asOf = adminRoute({
  method: "get",
  path: "/",
  summary:
    'Users as they were at an instant ("who was suspended at 3:47 PM on Monday", "who held this email then"), by user id',
  request: { query: AsOfQuery },
  responses: { ...jsonResponse(UsersAsOfPage, "A page of users as of T"), ...errors(400, 401, 403, 422) },
});

const exportStream = adminRoute({
  method: "get",
  path: "/{user_id}/stream",
  summary: "The user's stored stream as NDJSON, secrets redacted: a fixture for a test or a bug report",
  request: { params: UserIdParams },
  responses: {
    200: { description: "One event per line (application/x-ndjson)" },
    ...errors(400, 401, 403, 404),
  },
});

const correct = adminRoute({
  method: "post",
  path: "/{user_id}/corrections",
  summary: "Append a USER_CORRECTED event with the changes and a reason, instead of patching data",
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(CorrectionBody) },
  responses: { ...jsonResponse(CommandResponse, "Corrected"), ...errors(400, 401, 403, 404, 409, 412, 422) },
});

const erase = adminRoute({
  method: "post",
  path: "/{user_id}/erase",
  summary: "Erase a user's personal data (data-protection request): a USER_ERASED tombstone stays",
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(EraseBody) },
  responses: { ...jsonResponse(ErasureResponse, "Erased, with the receipt"), ...errors(400, 401, 403, 404, 412, 422) },
});

const replay = adminRoute({
  method: "post",
  path: "/{user_id}/replay",
  summary: "Rebuild this user's read-model row from its stream; no side effects are re-fired",
  request: { params: UserIdParams },
  responses: {
    ...jsonResponse(z.object({ user_id: z.string(), events: z.number().int() }), "Replayed"),
    ...errors(400, 401, 403, 404),
  },
});

/** `/admin/users`: users as of an instant; one user's stream, exported, corrected, erased or replayed into the read model. */
export const adminUsers = createRouter()
  .openapi(asOf, async (c) => {
    const query = c.req.valid("query");
    const after = query.cursor === undefined ? undefined : decodeAsOfCursor(query.cursor);
    if (after === null) throw notACursor();
    const filters = {
      asOf: parseInstant("as_of", query.as_of),
      status: query.status,
      username: query.username,
      email: query.email,
      limit: query.limit,
      after,
    };
    // Each user's intervals live in its read database: every one's page, merged (docs/decisions/0026;
    // during a re-shard the previous layout's too, 0027).
    const databases = listedReadDatabases(c.env);
    const { rows, next } = await withReadSession(c, databases, (sessionOf) =>
      queryAsOf(databases.map(sessionOf), filters, readDatabasesAskedAgain(c.env)),
    );
    const results = rows.map((row) => ({
      id: row.userId,
      username: row.username,
      email: row.email,
      status: row.status,
      role: row.role,
      revision: row.revision,
      valid_from: row.validFrom,
      valid_to: row.validTo,
    }));
    return c.json({ results, next_cursor: next === null ? null : encodeAsOfCursor(next) }, 200);
  })
  .openapi(exportStream, async (c) => {
    const { user_id } = c.req.valid("param");
    const events = await readWholeStream(c.env, user_id);
    // Every stream that exists starts with USER_CREATED: none means no such user.
    if (events.length === 0) throw httpError(404, "User not found");
    const ndjson = events.map((event) => `${JSON.stringify(event)}\n`).join("");
    return c.body(ndjson, 200, { "Content-Type": "application/x-ndjson" });
  })
  .openapi(correct, async (c) => {
    const body = c.req.valid("json");
    return runWithReason(
      c,
      c.req.valid("param").user_id,
      body,
      { type: "CorrectUser", changes: body.changes, reason: body.reason },
      "User corrected successfully",
    );
  })
  .openapi(erase, async (c) => {
    const body = c.req.valid("json");
    const { user_id } = c.req.valid("param");
    const input = { type: "EraseUser" } as const;
    const answer = await runCommand(c, { userId: user_id, input, body, reason: body.reason, message: ERASED_MESSAGE });
    await recordErasureAt(c.env, user_id, answer.revision);
    return c.json({ ...answer, ...(await erasureReceipt(c.env, user_id, answer.revision)) }, 200);
  })
  .openapi(replay, async (c) => {
    const { user_id } = c.req.valid("param");
    const { events } = await rebuildUsers(c.env, [user_id]);
    // During a re-shard (0027): written in its read database, the user leaves its previous one.
    await leavePreviousPlaces(c.env, [user_id]);
    if (events === 0) throw httpError(404, "User not found");
    return c.json({ user_id, events }, 200);
  });
