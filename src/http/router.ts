import { OpenAPIHono, createRoute, type RouteConfig, type z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import { ApiError, badRequest } from "./errors";

/**
 * Every router shares one validation hook: an unreadable path id, timestamp or header is a 400,
 * a body or query that does not match its schema a 422 with FastAPI-style `{loc, msg, type}` items.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    strict: false,
    defaultHook: (result) => {
      if (result.success) return;
      if (result.target === "param" || result.target === "header") throw badRequest();
      throw new ApiError(422, {
        error: "Request Validation Error",
        message: "Request validation failed",
        type: "RequestValidationError",
        details: result.error.issues.map((issue: z.core.$ZodIssue) => ({
          loc: [locationOf(result.target), ...issue.path.map(String)],
          msg: issue.message,
          type: issue.code,
        })),
      });
    },
  });
}

export type Router = ReturnType<typeof createRouter>;

function locationOf(target: string): string {
  return target === "json" ? "body" : target;
}

/** The scheme registered on the app as `bearer`: every guarded route is documented with it. */
const BEARER = [{ bearer: [] }];

/**
 * A route factory for a router whose routes all sit behind `guard`: the guard runs after the
 * route's own middleware, and the OpenAPI document marks each route as needing a bearer token.
 * Said once per router, so no route can forget it.
 */
export function guardedRoutes(guard: MiddlewareHandler<AppEnv>) {
  return <P extends string, R extends Omit<RouteConfig, "path"> & { path: P }>(route: R) => {
    const guarded: Omit<R, "middleware" | "security"> & Pick<RouteConfig, "security"> & { middleware: Middleware[] } = {
      ...route,
      security: BEARER,
      middleware: [...middlewareOf(route), guard],
    };
    return createRoute(guarded);
  };
}

export type GuardedRoute = ReturnType<typeof guardedRoutes>;

type Middleware = MiddlewareHandler<AppEnv>;

function middlewareOf(route: Omit<RouteConfig, "path">): Middleware[] {
  if (!route.middleware) return [];
  return Array.isArray(route.middleware) ? route.middleware : [route.middleware];
}
