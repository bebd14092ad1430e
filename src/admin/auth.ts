import { createMiddleware } from "hono/factory";
import { config } from "../config";
import { authenticated } from "../http/auth";
import type { AppEnv } from "../http/context";
import { httpError } from "../http/errors";
import { guardedRoutes } from "../http/router";

/** Admin routes take an admin's bearer token, like the rest of the API. */
export const adminOnly = createMiddleware<AppEnv>(async (c, next) =>
  authenticated(c, async () => {
    if (c.var.actor.role !== "admin") throw httpError(403, "Insufficient permissions. Admin role required.");
    await next();
  }),
);

/**
 * The first admin is created with the `ADMIN_BOOTSTRAP_TOKEN` secret; without that secret the
 * bootstrap route does not exist.
 */
export const bootstrapToken = createMiddleware<AppEnv>(async (c, next) => {
  const secret = config(c.env).ADMIN_BOOTSTRAP_TOKEN;
  if (!secret) throw httpError(404, "Not Found");
  const given = c.req.header("Authorization")?.replace(/^Bearer\s+/i, "") ?? "";
  if (!(await sameSecret(given, secret))) throw httpError(401, "Could not validate credentials");
  await next();
});

async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (s: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return crypto.subtle.timingSafeEqual(await digest(a), await digest(b));
}

/** A route behind an admin's token. */
export const adminRoute = guardedRoutes(adminOnly);

/** A route behind the bootstrap secret. */
export const bootstrapRoute = guardedRoutes(bootstrapToken);
