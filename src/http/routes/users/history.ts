import { z } from "@hono/zod-openapi";
import { confirmedByTarget, requires, selfCaller, selfOrAdminReading } from "../../auth";
import { ApiError, httpError } from "../../errors";
import { decimalInt } from "../../query-params";
import { pydanticIssue } from "../../request-validation";
import type { RouterWith } from "../../router";
import type { Schema } from "hono/types";
import { targetRoute } from "./route";
import { EventsPage, User, UserIdParams, errors, jsonResponse } from "../../schemas";
import { userStream } from "../../../objects";

const HistoryQuery = z
  .object({
    timestamp: z
      .string()
      .optional()
      .openapi({ description: "ISO 8601; without a zone it is UTC", example: "2026-11-23T15:47:00Z" }),
    revision: decimalInt(1).optional().openapi({ description: "The stream revision to look at" }),
  })
  // The reference requires `timestamp`; `revision` (ours) may stand in for it.
  .superRefine((query, ctx) => {
    if (query.timestamp === undefined && query.revision === undefined) {
      ctx.addIssue({ ...pydanticIssue("missing", "Field required"), path: ["timestamp"] });
    }
  });

/** Strict: a parameter this route does not know is refused (422), never silently ignored. */
const EventsQuery = z
  .object({
    from_revision: decimalInt(1).default(1),
    limit: decimalInt(1, 500).default(100),
    from_timestamp: z.string().optional().openapi({ description: "ISO 8601, inclusive; no zone means UTC" }),
    to_timestamp: z.string().optional().openapi({ description: "ISO 8601, inclusive; no zone means UTC" }),
  })
  .strict();

const historyRoute = targetRoute({
  method: "get",
  path: "/{user_id}/history",
  summary: "The user as it was at an instant (`timestamp`) or a revision, with its true role and deleted_at",
  middleware: [requires("user:read")],
  request: { params: UserIdParams, query: HistoryQuery },
  responses: { ...jsonResponse(User, "The user as it was"), ...errors(400, 401, 403, 404, 422) },
});

const eventsRoute = targetRoute({
  method: "get",
  path: "/{user_id}/events",
  summary: "The audit trail: the user's events with who, when and why; secrets redacted",
  middleware: [selfOrAdminReading],
  request: { params: UserIdParams, query: EventsQuery },
  responses: {
    ...jsonResponse(EventsPage, "A page of events"),
    ...errors(400, 401, 403, 404, 422),
  },
});

export const userHistory = <S extends Schema>(router: RouterWith<S>) =>
  router
    .openapi(historyRoute, async (c) => {
      const { user_id } = c.req.valid("param");
      const { timestamp, revision } = c.req.valid("query");
      const until: { revision?: number; timestamp?: string } = {};
      if (revision !== undefined) until.revision = revision;
      if (timestamp !== undefined) until.timestamp = parseInstant("timestamp", timestamp);
      const user = confirmedByTarget(c, await userStream(c.env, user_id).history(until, selfCaller(c, user_id)));
      if (!user) throw httpError(404, "User not found at specified time");
      return c.json(user, 200);
    })
    .openapi(eventsRoute, async (c) => {
      const { user_id } = c.req.valid("param");
      const { from_revision, limit, from_timestamp, to_timestamp } = c.req.valid("query");
      const trail: { fromRevision: number; limit: number; fromTimestamp?: string; toTimestamp?: string } = {
        fromRevision: from_revision,
        limit,
      };
      if (from_timestamp !== undefined) trail.fromTimestamp = parseInstant("from_timestamp", from_timestamp);
      if (to_timestamp !== undefined) trail.toTimestamp = parseInstant("to_timestamp", to_timestamp);
      const results = confirmedByTarget(c, await userStream(c.env, user_id).auditTrail(trail, selfCaller(c, user_id)));
      if (!results) throw httpError(404, "User not found");
      const last = results[results.length - 1];
      return c.json({ results, next_revision: results.length === limit && last ? last.revision + 1 : null }, 200);
    });

/**
 * ISO 8601 with or without a zone (none means UTC), as the stored event times: `…T…Z`. An
 * unreadable one is a 400, as the reference answers, but saying what is wrong with it.
 */
export function parseInstant(name: string, text: string): string {
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
  const ms = Date.parse(zoned);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new ApiError(400, {
      error: "Bad Request",
      message: `${name} ${JSON.stringify(text.slice(0, 40))} is not an ISO 8601 time: use e.g. 2026-11-23T15:47:00Z (without a zone it is UTC)`,
      type: "ContentTypeError",
    });
  }
  return new Date(ms).toISOString();
}
