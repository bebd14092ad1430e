import { z } from "@hono/zod-openapi";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { rebuildJob } from "../../read/projection-rebuild";
import { projectionStatus } from "../../read/projection-status";
import { PROJECTION_NAMES } from "../../read/projections";
import { adminRoute } from "../auth";
import { ProjectionStatus, RebuildProgress } from "../schemas";

const Projection = z
  .enum(PROJECTION_NAMES as [string, ...string[]])
  .optional()
  .openapi({ description: `One of ${PROJECTION_NAMES.join(", ")}; without it, every projection` });

const status = adminRoute({
  method: "get",
  path: "/status",
  summary: "Per projection: users behind, oldest owed event, last projected, open dead letters; and the outbox backlog",
  responses: { ...jsonResponse(ProjectionStatus, "Projection status"), ...errors(401, 403) },
});

const startRebuild = adminRoute({
  method: "post",
  path: "/rebuild",
  summary: "Rebuild a projection (or all) from every stream, removing rows without one; resumes unless restart=true",
  request: { query: z.object({ restart: z.enum(["true", "false"]).default("false"), projection: Projection }) },
  responses: { ...jsonResponse(RebuildProgress, "Rebuild started or resumed"), ...errors(401, 403, 422) },
});

const rebuildProgress = adminRoute({
  method: "get",
  path: "/rebuild",
  summary: "Progress of a projection's (or the full) rebuild: users done/total, events per second, ghosts removed",
  request: { query: z.object({ projection: Projection }) },
  responses: { ...jsonResponse(RebuildProgress, "Progress"), ...errors(401, 403, 422) },
});

/** `/admin/projections`: how far each read model is behind, and its rebuild. */
export const projections = createRouter()
  .openapi(status, async (c) => c.json(await projectionStatus(c.env), 200))
  .openapi(startRebuild, async (c) => {
    const { restart, projection } = c.req.valid("query");
    return c.json(await rebuildJob(c.env, projection ?? null).start(restart === "true", projection ?? null), 200);
  })
  .openapi(rebuildProgress, async (c) => {
    const { projection } = c.req.valid("query");
    return c.json(await rebuildJob(c.env, projection ?? null).progress(), 200);
  });
