import { createRoute } from "@hono/zod-openapi";
import { config } from "../../config";
import { issueToken } from "../auth";
import { httpError, tooManyRequests } from "../errors";
import { logInByUsername } from "../../write/username-login";
import { createRouter } from "../router";
import { LoginBody, LoginResponse, errors, jsonBody, jsonResponse } from "../schemas";

const login = createRoute({
  method: "post",
  path: "/login",
  summary: "Exchange username and password for a 30-minute bearer token",
  request: jsonBody(LoginBody),
  responses: { ...jsonResponse(LoginResponse, "Logged in"), ...errors(401, 422, 429) },
});

const INCORRECT = "Incorrect username or password";

export const authRoutes = createRouter().openapi(login, async (c) => {
  const { username, password } = c.req.valid("json");
  if (!username || !password) throw httpError(401, INCORRECT);
  const result = await logInByUsername(c.env, username, password, c.get("requestId"));
  if (!result.ok) {
    if (result.holder) c.set("refusalTarget", result.holder);
    if (result.reason === "throttled") {
      throw tooManyRequests("Too many failed login attempts; try again later", result.retryAfterSeconds);
    }
    throw httpError(401, INCORRECT);
  }
  const access_token = await issueToken(result.user, config(c.env).JWT_SECRET, Date.now());
  return c.json({ access_token, token_type: "bearer" as const, user: result.user }, 200);
});
