import { createRoute } from "@hono/zod-openapi";
import { newUserId, runCommand } from "../http/commands";
import { createRouter } from "../http/router";
import { CommandResponse, CreateUserBody, UserIdParams, errors, jsonBody, jsonResponse } from "../http/schemas";
import { readWholeStream } from "../read/replay";
import { adminOnly, bootstrapToken } from "./auth";

const bootstrap = createRoute({
  method: "post",
  path: "/bootstrap/admins",
  summary: "Create an admin; authorised by the ADMIN_BOOTSTRAP_TOKEN secret (used by `npm run create-admin`)",
  security: [{ bearer: [] }],
  middleware: [bootstrapToken] as const,
  request: jsonBody(CreateUserBody.omit({ role: true })),
  responses: { ...jsonResponse(CommandResponse, "Admin created"), ...errors(401, 404, 409, 422) },
});

const exportStream = createRoute({
  method: "get",
  path: "/users/{user_id}/stream",
  summary: "The user's stored stream as NDJSON, secrets redacted: a fixture for a test or a bug report",
  security: [{ bearer: [] }],
  middleware: [adminOnly] as const,
  request: { params: UserIdParams },
  responses: {
    200: { description: "One event per line (application/x-ndjson)" },
    ...errors(400, 401, 403),
  },
});

export const adminRoutes = createRouter()
  .openapi(bootstrap, async (c) => {
    const body = c.req.valid("json");
    // Deterministic per username: re-running the bootstrap lands on the same object and is a no-op.
    const userId = await newUserId("bootstrap", body.username.trim().toLowerCase());
    return c.json(
      await runCommand(c, {
        userId,
        input: { type: "CreateUser", ...body },
        body,
        role: "admin",
        message: "Admin created successfully",
        includeUserId: true,
      }),
      200,
    );
  })
  .openapi(exportStream, async (c) => {
    const { user_id } = c.req.valid("param");
    const events = await readWholeStream(c.env, user_id);
    const ndjson = events.map((event) => `${JSON.stringify(event)}\n`).join("");
    return c.body(ndjson, 200, { "Content-Type": "application/x-ndjson" });
  });
