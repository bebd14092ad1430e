import { z } from "@hono/zod-openapi";
import { eventSchemas, type EventType } from "../../domain/events";
import { notACursor } from "../../http/request-validation";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { decodeCursor, encodeCursor, queryAuditLog } from "../../read/audit-log";
import { adminRoute } from "../auth";
import { timeWindowPage } from "./time-window";
import { auditEntryOf } from "../audit-entry";
import { AuditPage } from "../schemas";

const AuditQuery = z.object({
  user_id: z.uuid().optional(),
  username: z.string().min(1).max(150).optional(),
  email: z.string().min(1).max(254).optional(),
  actor: z.string().min(1).max(150).optional().openapi({ description: "The acting user's id or username" }),
  event_type: z.enum(Object.keys(eventSchemas) as [EventType, ...EventType[]]).optional(),
  ...timeWindowPage,
});

const list = adminRoute({
  method: "get",
  path: "/",
  summary: 'Every user\'s events, newest first, naming the user as of each event ("who deleted sarah, and when")',
  request: { query: AuditQuery },
  responses: {
    ...jsonResponse(AuditPage, "Audit entries"),
    ...errors(401, 403, 422),
  },
});

/** `/admin/audit`: the audit log, a read model over every user's events. */
export const audit = createRouter().openapi(list, async (c) => {
  const query = c.req.valid("query");
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (cursor === null) throw notACursor();
  const { rows, next } = await queryAuditLog(c.env.DB, {
    userId: query.user_id,
    username: query.username,
    email: query.email,
    actor: query.actor,
    eventType: query.event_type,
    from: query.from,
    to: query.to,
    limit: query.limit,
    cursor,
  });
  return c.json({ results: rows.map(auditEntryOf), next_cursor: next ? encodeCursor(next) : null }, 200);
});
