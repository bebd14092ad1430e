import { OpenAPIHono, type z } from "@hono/zod-openapi";
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

function locationOf(target: string): string {
  return target === "json" ? "body" : target;
}
