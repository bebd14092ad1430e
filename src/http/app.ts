import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { log } from "../observability";
import { ApiError, errorResponse } from "./errors";
import { NOT_AN_OBJECT, invalidInput } from "./request-validation";
import { pages } from "./pages";
import { journalIfRefused } from "./refusals";
import { createRouter } from "./router";
import { authRoutes } from "./routes/auth";
import { tickets } from "./routes/tickets";
import { users } from "./routes/users";

export const MAX_BODY_BYTES = 16 * 1024;

/** What a caller's `X-Request-Id` must look like to be kept (else a UUID is made): every event records it. */
export const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * The HTTP shell (request ids, body limit, error envelope, OpenAPI document) with the public `/v1`
 * API mounted. Other routers (the admin API) are mounted by the caller: http does not know them,
 * only the larger body limits of the caller's bulk routes (`largeBodies`: path → bytes).
 */
export function createApp(largeBodies: Record<string, number> = {}) {
  const app = createRouter();

  const standard = limitBody(MAX_BODY_BYTES);
  const large = new Map(Object.entries(largeBodies).map(([path, bytes]) => [path, limitBody(bytes)]));
  // One middleware for what every request gets (one async step, not three: issue 25), in this order:
  // the request id, the refusal journal inside it (it records the id), the body limit inside that.
  app.use(async (c, next) => {
    const given = c.req.header("X-Request-Id");
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", requestId);
    // Before the route: a response the route builds (`c.json`) carries it as built. Set on a built
    // response, Hono copies the response first (a tenth of a read's CPU went to building responses),
    // so only a response made some other way (a raw `Response`, an object's) gets it afterwards.
    c.header("X-Request-Id", requestId);
    // A request without a body has nothing to limit. The limit answers a body too large itself.
    if (c.req.raw.body) {
      // It answers what `next` answers (Hono's context), or its 413.
      const answer: unknown = await (large.get(c.req.path.replace(/\/$/, "")) ?? standard)(c, next);
      if (answer instanceof Response) c.res = answer;
    } else {
      await next();
    }
    // Around everything that can refuse a command: once the answer is final.
    journalIfRefused(c);
    if (c.res.headers.get("X-Request-Id") !== requestId) c.header("X-Request-Id", requestId);
  });

  app.get("/ht", (c) => c.json({ status: "UP" }));
  // As the reference: the root sends a browser to the interactive docs.
  app.get("/", (c) => c.redirect("/docs", 307));
  // Chained, so that the returned type carries every route (the typed client is built on it).
  const api = app.route("/v1/auth", authRoutes).route("/v1/auth", tickets).route("/v1/users", users);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
  });
  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Event-sourced user service", version: "1.0.0" },
  });
  app.route("/", pages);

  app.notFound((c) =>
    errorResponse(c, new ApiError(404, { error: "HTTP Error", message: "Not Found", type: "HTTPException" })),
  );

  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error);
    // Bodies are read by `readJsonBody` first; should Hono's own parsing still refuse one, answer
    // as the reference does for a body it cannot use.
    if (error instanceof HTTPException && (error.status === 400 || error.status === 415)) {
      return errorResponse(c, invalidInput(["body"], "model_attributes_type", NOT_AN_OBJECT));
    }
    // Never echo the request: bodies may carry passwords.
    log("error", "unhandled error", {
      requestId: c.get("requestId"),
      path: c.req.path,
      error: String(error),
      cause: error.cause instanceof Error ? error.cause.message : undefined,
      stack: error.stack,
    });
    return c.json(
      { error: "Internal Server Error", message: "An unexpected error occurred", type: "InternalServerError" },
      500,
    );
  });
  return api;
}

/** The body limit: a request with a larger body is answered 413 (returned, so the caller's steps still run). */
function limitBody(maxSize: number) {
  return bodyLimit({
    maxSize,
    onError: (c) =>
      errorResponse(
        c,
        new ApiError(413, {
          error: "Payload Too Large",
          message: `Request body is larger than ${maxSize} bytes`,
          type: "PayloadTooLarge",
        }),
      ),
  });
}
