import { requires, selfOrAdmin } from "../../auth";
import { targetRoute } from "./route";
import { runCommand, runWithReason } from "../../commands";
import { newUserId } from "../../../write/request-ids";
import type { RouterWith } from "../../router";
import type { Schema } from "hono/types";
import {
  ChangePasswordBody,
  CommandHeaders,
  CommandResponse,
  CreateUserBody,
  ReasonBody,
  RestoreBody,
  UpdateUserBody,
  UserIdParams,
  errors,
  jsonBody,
  jsonResponse,
} from "../../schemas";

const commandErrors = errors(400, 401, 403, 404, 409, 412, 413, 422, 429);

const createUser = targetRoute({
  method: "post",
  path: "/",
  summary: "Create a user (role user)",
  middleware: [requires("user:create")],
  request: { headers: CommandHeaders, ...jsonBody(CreateUserBody) },
  responses: { ...jsonResponse(CommandResponse, "User created successfully"), ...commandErrors },
});

const updateUser = targetRoute({
  method: "put",
  path: "/{user_id}",
  summary: "Update first name, last name or email",
  middleware: [selfOrAdmin],
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(UpdateUserBody) },
  responses: { ...jsonResponse(CommandResponse, "User updated successfully"), ...commandErrors },
});

const changePassword = targetRoute({
  method: "put",
  path: "/{user_id}/password",
  summary: "Change the password (the current one is required, also for admins)",
  middleware: [selfOrAdmin],
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(ChangePasswordBody) },
  responses: { ...jsonResponse(CommandResponse, "Password changed successfully"), ...commandErrors },
});

const deleteUser = targetRoute({
  method: "delete",
  path: "/{user_id}",
  summary: "Delete a user (soft: the stream keeps everything), with an optional reason",
  middleware: [requires("user:delete")],
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(ReasonBody, false) },
  responses: { ...jsonResponse(CommandResponse, "User deleted successfully"), ...commandErrors },
});

const statusChange = (action: "suspend" | "reactivate") =>
  targetRoute({
    method: "post",
    path: `/{user_id}/${action}`,
    summary: action === "suspend" ? "Suspend a user: no login, tokens stop working" : "Reactivate a suspended user",
    middleware: [requires("user:delete")],
    request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(ReasonBody, false) },
    responses: { ...jsonResponse(CommandResponse, `User ${action}d successfully`), ...commandErrors },
  });

const restoreUser = targetRoute({
  method: "post",
  path: "/{user_id}/restore",
  summary: "Restore a deleted user (USER_RESTORED): 409 if its username or email was taken meanwhile",
  middleware: [requires("user:delete")],
  request: { params: UserIdParams, headers: CommandHeaders, ...jsonBody(RestoreBody) },
  responses: { ...jsonResponse(CommandResponse, "User restored successfully"), ...commandErrors },
});

const reasonOf = (body: { reason?: string | undefined } | undefined) => body ?? {};

export const userCommands = <S extends Schema>(router: RouterWith<S>) =>
  router
    .openapi(createUser, async (c) => {
      const { role: _ignored, ...body } = c.req.valid("json");
      const userId = await newUserId(c.var.actor.id, c.req.header("Idempotency-Key"));
      return c.json(
        await runCommand(c, {
          userId,
          input: { type: "CreateUser", ...body },
          body,
          message: "User created successfully",
          includeUserId: true,
        }),
        200,
      );
    })
    .openapi(updateUser, async (c) => {
      const { user_id } = c.req.valid("param");
      const body = c.req.valid("json");
      return c.json(
        await runCommand(c, {
          userId: user_id,
          input: { type: "UpdateUser", ...body },
          body,
          message: "User updated successfully",
        }),
        200,
      );
    })
    .openapi(changePassword, async (c) => {
      const { user_id } = c.req.valid("param");
      const body = c.req.valid("json");
      return c.json(
        await runCommand(c, {
          userId: user_id,
          input: { type: "ChangePassword", ...body },
          body,
          message: "Password changed successfully",
        }),
        200,
      );
    })
    .openapi(deleteUser, async (c) => {
      const body = reasonOf(c.req.valid("json"));
      return runWithReason(
        c,
        c.req.valid("param").user_id,
        body,
        { type: "DeleteUser", reason: body.reason },
        "User deleted successfully",
      );
    })
    .openapi(statusChange("suspend"), async (c) => {
      const body = reasonOf(c.req.valid("json"));
      return runWithReason(
        c,
        c.req.valid("param").user_id,
        body,
        { type: "SuspendUser" },
        "User suspended successfully",
      );
    })
    .openapi(statusChange("reactivate"), async (c) => {
      const body = reasonOf(c.req.valid("json"));
      return runWithReason(
        c,
        c.req.valid("param").user_id,
        body,
        { type: "ReactivateUser" },
        "User reactivated successfully",
      );
    })
    .openapi(restoreUser, async (c) => {
      const body = c.req.valid("json");
      return runWithReason(
        c,
        c.req.valid("param").user_id,
        body,
        { type: "RestoreUser", reason: body.reason },
        "User restored successfully",
      );
    });
