import { z } from "@hono/zod-openapi";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { REBUILD_NAME, RebuildProgress } from "../../read/projection-rebuild";
import { projectionStatus } from "../../read/projection-status";
import { adminRoute } from "../auth";

const Progress = RebuildProgress.openapi("RebuildProgress");

const status = adminRoute({
  method: "get",
  path: "/status",
  summary: "Read-model lag: outbox backlog and its oldest entry, users behind, dead letters",
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

const startRebuild = adminRoute({
  method: "post",
  path: "/rebuild",
  summary: "Rebuild every read model from every stream; resumes a running rebuild unless restart=true",
  request: { query: z.object({ restart: z.enum(["true", "false"]).default("false") }) },
  responses: { ...jsonResponse(Progress, "Rebuild started or resumed"), ...errors(401, 403) },
});

const rebuildProgress = adminRoute({
  method: "get",
  path: "/rebuild",
  summary: "Progress of the rebuild: users done/total, events per second",
  responses: { ...jsonResponse(Progress, "Progress"), ...errors(401, 403) },
});

/** `/admin/projections`: how far the read model is behind, and its full rebuild. */
export const projections = createRouter()
  .openapi(status, async (c) => c.json(await projectionStatus(c.env, c.req.valid("query").limit), 200))
  .openapi(startRebuild, async (c) => {
    const restart = c.req.valid("query").restart === "true";
    return c.json(await c.env.PROJECTION_REBUILD.getByName(REBUILD_NAME).start(restart), 200);
  })
  .openapi(rebuildProgress, async (c) =>
    c.json(await c.env.PROJECTION_REBUILD.getByName(REBUILD_NAME).progress(), 200),
  );
