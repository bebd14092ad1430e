import { z } from "@hono/zod-openapi";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { adminRoute } from "../auth";
import { migrateIdentities } from "../identity-migration";

const MigrationStep = z
  .object({
    users: z.number().int().openapi({ description: "Users of the directory this step copied" }),
    adopted: z.number().int().openapi({ description: "Keys written into a shard (0 for keys already there)" }),
    next_cursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next step; null once done" }),
    done: z
      .boolean()
      .openapi({ description: "Every shard is marked copied: the old per-key objects are no longer asked" }),
  })
  .openapi("IdentityMigrationStep");

const migrate = adminRoute({
  method: "post",
  path: "/migrate",
  summary:
    "One step of the one-off copy of claims from the per-key registry objects into the shards; repeat with next_cursor until done",
  request: {
    query: z.object({
      cursor: z.string().max(64).default("").openapi({ description: "`next_cursor` of the previous step" }),
    }),
  },
  responses: { ...jsonResponse(MigrationStep, "The step's progress"), ...errors(401, 403, 422) },
});

/** `/admin/identity`: the upgrade from per-key registry objects to the shards (docs/operations.md). */
export const identity = createRouter().openapi(migrate, async (c) =>
  c.json(await migrateIdentities(c.env, c.req.valid("query").cursor), 200),
);
