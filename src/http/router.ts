import { OpenAPIHono, createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { Schema } from "hono/types";
import type { AppEnv } from "./context";
import { badRequest } from "./errors";
import { fromZodIssues, readJsonBody, requestValidationError, type Location } from "./request-validation";

/**
 * Every router shares one validation hook: an unreadable path id or header is a 400 (as the
 * reference, which parses ids inside its routes), a body or query that does not match its schema a
 * 422 worded as the reference words it. A route with a JSON body reads it with `readJsonBody` after
 * its own middleware, so authentication (401) and permission (403) come before the body (422).
 */
export function createRouter() {
  const router = new OpenAPIHono<AppEnv>({
    strict: false,
    defaultHook: (result) => {
      if (result.success) return;
      if (result.target === "param" || result.target === "header") throw badRequest();
      // @hono/zod-validator passes the validated input as `data` on failure too (its own Hook type
      // says so; zod-openapi's narrower type leaves it out): it tells a missing field from a wrong one.
      const input = (result as { data?: unknown }).data;
      throw requestValidationError(fromZodIssues(locationOf(result.target), result.error.issues, input));
    },
  });
  const register = router.openapi;
  router.openapi = ((route: RouteConfig, ...rest: unknown[]) =>
    (register as (...args: unknown[]) => unknown)(withBodyReader(route), ...rest)) as typeof register;
  return router;
}

function withBodyReader(route: RouteConfig): RouteConfig {
  const body = route.request?.body;
  // Only JSON bodies: a route taking another media type (an NDJSON import) reads its own.
  if (!body?.content["application/json"]) return route;
  return { ...route, middleware: [...middlewareOf(route), readJsonBody(body.required ?? false)] };
}

/**
 * A router that may already hold routes (`S`): a function that adds routes to one takes and returns
 * this, so the routes' types add up and the typed client (`src/client.ts`) sees every one of them.
 */
export type RouterWith<S extends Schema> = OpenAPIHono<AppEnv, S>;

function locationOf(target: string): Location {
  return target === "json" ? "body" : target === "query" ? "query" : target === "param" ? "path" : "header";
}

/** The scheme registered on the app as `bearer`: every guarded route is documented with it. */
const BEARER = [{ bearer: [] }];

/**
 * A route factory for a router whose routes all sit behind `guard`: the guard runs before the
 * route's own middleware (its permission checks need the caller), and the OpenAPI document marks
 * each route as needing a bearer token.
 * Said once per router, so no route can forget it.
 */
export function guardedRoutes(guard: MiddlewareHandler<AppEnv>) {
  return <P extends string, R extends Omit<RouteConfig, "path"> & { path: P }>(route: R) => {
    const guarded: Omit<R, "middleware" | "security"> & Pick<RouteConfig, "security"> & { middleware: Middleware[] } = {
      ...route,
      security: BEARER,
      middleware: [guard, ...middlewareOf(route)],
    };
    return createRoute(guarded);
  };
}

type Middleware = MiddlewareHandler<AppEnv>;

function middlewareOf(route: Omit<RouteConfig, "path">): Middleware[] {
  if (!route.middleware) return [];
  return Array.isArray(route.middleware) ? route.middleware : [route.middleware];
}
