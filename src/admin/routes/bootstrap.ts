import { runCommand } from "../../http/commands";
import { newUserId } from "../../write/request-ids";
import { createRouter } from "../../http/router";
import { CommandResponse, CreateUserBody, errors, jsonBody, jsonResponse } from "../../http/schemas";
import { bootstrapRoute } from "../auth";

const createAdmin = bootstrapRoute({
  method: "post",
  path: "/admins",
  summary: "Create an admin; authorised by the ADMIN_BOOTSTRAP_TOKEN secret (used by `npm run create-admin`)",
  request: jsonBody(CreateUserBody.omit({ role: true })),
  responses: { ...jsonResponse(CommandResponse, "Admin created"), ...errors(401, 404, 409, 422) },
});

/** `/admin/bootstrap`: how the first admin comes to be. */
export const bootstrap = createRouter().openapi(createAdmin, async (c) => {
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
});
