import { z } from "@hono/zod-openapi";
import { ApiError } from "../../http/errors";
import { createRouter } from "../../http/router";
import { errors, jsonResponse } from "../../http/schemas";
import { adminRoute } from "../auth";
import { ImportReport } from "../schemas";
import { exportNdjson } from "../export";
import { IMPORT_MAX_LINES, importNdjson } from "../import";
import { log } from "../../observability";

const ndjson = (description: string) => ({
  description,
  content: { "application/x-ndjson": { schema: z.string() } },
});

const importRoute = adminRoute({
  method: "post",
  path: "/import",
  summary: `Import events (NDJSON, at most ${IMPORT_MAX_LINES} lines): lines of our export or rows of the reference's user_event_stream`,
  request: {
    query: z.object({
      onto_existing: z.enum(["allow", "refuse"]).default("refuse").openapi({
        description:
          "`allow`: events may be added to a stream a command created (by default only to new streams and to those an earlier import created)",
      }),
    }),
    body: { required: true, ...ndjson("One event or reference row per line") },
  },
  responses: {
    ...jsonResponse(ImportReport, "What was imported, skipped and rejected, and the admins it created"),
    ...errors(401, 403, 413, 422),
  },
});

const exportRoute = adminRoute({
  method: "get",
  path: "/export",
  summary: "Every user's stream as NDJSON, oldest first per user; ?secrets=include adds the password hashes (a backup)",
  request: { query: z.object({ secrets: z.enum(["include", "redact"]).default("redact") }) },
  responses: { 200: { description: "One event per line (application/x-ndjson)" }, ...errors(401, 403, 422) },
});

export const transfer = createRouter()
  .openapi(importRoute, async (c) => {
    // Decoded here: workerd warns on `.text()` of a body whose type is not text/*.
    const body = new TextDecoder().decode(await c.req.arrayBuffer());
    const lines = body.split("\n").length - (body.endsWith("\n") ? 1 : 0);
    if (lines > IMPORT_MAX_LINES) throw tooLarge(`at most ${IMPORT_MAX_LINES} lines per request; split the file`);
    const started = Date.now();
    const ontoExisting = c.req.valid("query").onto_existing === "allow";
    const report = await importNdjson(c.env, body, c.var.requestId, { ontoExisting });
    // One line per request: with `wrangler tail` / Workers Logs, an import's progress as it runs.
    log("info", "import", {
      request_id: c.var.requestId,
      lines,
      imported: report.imported,
      skipped: report.skipped,
      rejected: report.rejected.length,
      admins: report.admins.length,
      onto_existing: ontoExisting,
      ms: Date.now() - started,
    });
    return c.json(report, 200);
  })
  .openapi(exportRoute, (c) => {
    const secrets = c.req.valid("query").secrets === "include";
    const headers = { "Content-Type": "application/x-ndjson", "Cache-Control": "no-store" };
    return c.body(exportNdjson(c.env, secrets), 200, headers);
  });

function tooLarge(message: string) {
  return new ApiError(413, { error: "Payload Too Large", message, type: "PayloadTooLarge" });
}
