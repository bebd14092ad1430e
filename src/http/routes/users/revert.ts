import { z } from "@hono/zod-openapi";
import type { Schema } from "hono/types";
import type { RevertTarget } from "../../../domain/commands";
import { eventSchemas, type EventType } from "../../../domain/events";
import { FIELD_MAX } from "../../../domain/rules";
import { userStream } from "../../../objects";
import { requires } from "../../auth";
import { runCommand } from "../../commands";
import { rejectionError } from "../../errors";
import { pydanticIssue } from "../../request-validation";
import type { RouterWith } from "../../router";
import { CommandHeaders, UserIdParams, errors, jsonBody, jsonResponse } from "../../schemas";
import { parseInstant } from "./history";
import { targetRoute } from "./route";

const RevertBody = z
  .object({
    to_revision: z.number().int().min(0).optional().openapi({ description: "The revision to go back to", example: 3 }),
    to_timestamp: z.string().max(64).optional().openapi({
      description: "The instant to go back to: ISO 8601, no zone means UTC",
      example: "2026-11-23T15:47:00Z",
    }),
    reason: z.string().min(1).max(FIELD_MAX.reason).openapi({ example: "Put back as she was before ticket #4711" }),
  })
  .superRefine((body, ctx) => {
    if ((body.to_revision === undefined) === (body.to_timestamp === undefined)) {
      ctx.addIssue({
        ...pydanticIssue("value_error", "Value error, exactly one of to_revision and to_timestamp is required"),
        path: ["to_revision"],
      });
    }
  })
  .openapi("RevertRequest");

const RevertQuery = z.object({
  dry_run: z
    .enum(["true", "false"])
    .optional()
    .openapi({ description: "`true`: answer what the revert would append, append nothing (a preview)" }),
});

const EventTypeName = z.enum(Object.keys(eventSchemas) as [EventType, ...EventType[]]);

export const RevertResponse = z
  .object({
    message: z.string(),
    revision: z.number().int().openapi({ description: "The stream's revision after the revert (a preview: now)" }),
    events: z.array(EventTypeName).openapi({ description: "The types of the events appended (would be), in order" }),
    dry_run: z.boolean().optional(),
    preview: z
      .array(z.object({ event_type: EventTypeName, data: z.record(z.string(), z.unknown()) }))
      .optional()
      .openapi({ description: "A preview only: each event it would append, with its data" }),
    conflicts: z
      .array(z.object({ field: z.enum(["username", "email"]), value: z.string() }))
      .optional()
      .openapi({ description: "A preview only: then's username or email another user holds now (the revert: 409)" }),
  })
  .openapi("RevertResponse");

const revertRoute = targetRoute({
  method: "post",
  path: "/{user_id}/revert",
  summary:
    "Put a user back as it was at a revision or instant: appends the events that make it so (history is never rewritten)",
  middleware: [requires("user:delete")],
  request: { params: UserIdParams, query: RevertQuery, headers: CommandHeaders, ...jsonBody(RevertBody) },
  responses: {
    ...jsonResponse(RevertResponse, "Reverted (or, with dry_run, what a revert would append)"),
    ...errors(400, 401, 403, 404, 409, 412, 413, 422, 429),
  },
});

export const userRevert = <S extends Schema>(router: RouterWith<S>) =>
  router.openapi(revertRoute, async (c) => {
    const { user_id } = c.req.valid("param");
    const body = c.req.valid("json");
    const to: RevertTarget =
      body.to_timestamp !== undefined
        ? { timestamp: parseInstant("to_timestamp", body.to_timestamp) }
        : { revision: body.to_revision ?? 0 };
    if (c.req.valid("query").dry_run === "true") {
      const preview = await userStream(c.env, user_id).previewRevert(to, body.reason);
      if (!preview.ok) throw rejectionError(preview.rejection, user_id);
      c.header("ETag", `"${preview.revision}"`);
      const events = preview.events.map((event) => event.event_type);
      const message = events.length === 0 ? "Nothing to revert" : "Would revert";
      return c.json(
        {
          message,
          revision: preview.revision,
          events,
          dry_run: true,
          preview: preview.events.map(({ event_type, data }) => ({ event_type, data })),
          conflicts: preview.conflicts,
        },
        200,
      );
    }
    const answer = await runCommand(c, {
      userId: user_id,
      input: { type: "RevertUser", to, reason: body.reason },
      body,
      reason: body.reason,
      message: "User reverted successfully",
      includeEvents: true,
    });
    return c.json({ ...answer, events: "events" in answer ? answer.events : [] }, 200);
  });
