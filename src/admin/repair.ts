import { createRoute, z } from "@hono/zod-openapi";
import { runCommand } from "../http/commands";
import { createRouter } from "../http/router";
import { CommandHeaders, CommandResponse, UserIdParams, errors, jsonBody, jsonResponse } from "../http/schemas";
import { rebuildRows } from "../read/replay";
import { adminOnly } from "./auth";
import { REBUILD_NAME } from "./projection-rebuild";

const security = [{ bearer: [] }];
const field = z.string().max(150);

const CorrectionBody = z
  .strictObject({
    changes: z
      .strictObject({
        username: field.optional(),
        email: z.string().max(254).optional(),
        first_name: field.optional(),
        last_name: field.optional(),
      })
      .openapi({ description: "The corrected values; username included, unlike a normal update" }),
    reason: z.string().min(1).max(1000),
  })
  .openapi("CorrectionRequest");

const EraseBody = z
  .strictObject({ reason: z.string().min(1).max(1000).openapi({ example: "Data protection request #1234" }) })
  .openapi("EraseRequest");

const RebuildProgress = z
  .object({
    status: z.enum(["idle", "running", "done"]),
    users_done: z.number().int(),
    users_total: z.number().int(),
    events: z.number().int(),
    events_per_second: z.number().nullable(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    last_error: z.string().nullable(),
  })
  .openapi("RebuildProgress");

const correct = createRoute({
  method: "post",
  path: "/users/{user_id}/corrections",
  summary: "Append a USER_CORRECTED event with the changes and a reason, instead of patching data",
  security,
  middleware: [adminOnly] as const,
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(CorrectionBody) },
  responses: { ...jsonResponse(CommandResponse, "Corrected"), ...errors(400, 401, 403, 404, 409, 412, 422) },
});

const erase = createRoute({
  method: "post",
  path: "/users/{user_id}/erase",
  summary: "Erase a user's personal data (data-protection request): a USER_ERASED tombstone stays",
  security,
  middleware: [adminOnly] as const,
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(EraseBody) },
  responses: { ...jsonResponse(CommandResponse, "Erased"), ...errors(400, 401, 403, 404, 412, 422) },
});

const replay = createRoute({
  method: "post",
  path: "/users/{user_id}/replay",
  summary: "Rebuild this user's read-model row from its stream; no side effects are re-fired",
  security,
  middleware: [adminOnly] as const,
  request: { params: UserIdParams },
  responses: {
    ...jsonResponse(z.object({ user_id: z.string(), events: z.number().int() }), "Replayed"),
    ...errors(400, 401, 403),
  },
});

const startRebuild = createRoute({
  method: "post",
  path: "/projections/rebuild",
  summary: "Rebuild every read model from every stream; resumes a running rebuild unless restart=true",
  security,
  middleware: [adminOnly] as const,
  request: { query: z.object({ restart: z.enum(["true", "false"]).default("false") }) },
  responses: { ...jsonResponse(RebuildProgress, "Rebuild started or resumed"), ...errors(401, 403) },
});

const rebuildProgress = createRoute({
  method: "get",
  path: "/projections/rebuild",
  summary: "Progress of the rebuild: users done/total, events per second",
  security,
  middleware: [adminOnly] as const,
  responses: { ...jsonResponse(RebuildProgress, "Progress"), ...errors(401, 403) },
});

export const repair = createRouter()
  .openapi(correct, async (c) => {
    const { user_id } = c.req.valid("param");
    const body = c.req.valid("json");
    const input = { type: "CorrectUser" as const, changes: body.changes, reason: body.reason };
    return c.json(
      await runCommand(c, {
        userId: user_id,
        input,
        body,
        reason: body.reason,
        message: "User corrected successfully",
      }),
      200,
    );
  })
  .openapi(erase, async (c) => {
    const { user_id } = c.req.valid("param");
    const body = c.req.valid("json");
    return c.json(
      await runCommand(c, {
        userId: user_id,
        input: { type: "EraseUser" },
        body,
        reason: body.reason,
        message: "User erased successfully",
      }),
      200,
    );
  })
  .openapi(replay, async (c) => {
    const { user_id } = c.req.valid("param");
    const { events } = await rebuildRows(c.env, [user_id]);
    return c.json({ user_id, events }, 200);
  })
  .openapi(startRebuild, async (c) => {
    const restart = c.req.valid("query").restart === "true";
    return c.json(await c.env.PROJECTION_REBUILD.getByName(REBUILD_NAME).start(restart), 200);
  })
  .openapi(rebuildProgress, async (c) =>
    c.json(await c.env.PROJECTION_REBUILD.getByName(REBUILD_NAME).progress(), 200),
  );
