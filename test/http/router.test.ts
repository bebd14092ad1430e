import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { createRouter } from "../../src/http/router";

/** `createRouter` reads JSON bodies for its routes; a route taking another media type reads its own. */

describe("createRouter's body reader", () => {
  const router = createRouter()
    .openapi(
      createRoute({
        method: "post",
        path: "/ndjson",
        request: { body: { required: true, content: { "application/x-ndjson": { schema: z.string() } } } },
        responses: { 200: { description: "lines" } },
      }),
      async (c) => c.text(String((await c.req.text()).split("\n").length)),
    )
    .openapi(
      createRoute({
        method: "post",
        path: "/json",
        request: { body: { required: true, content: { "application/json": { schema: z.object({ a: z.string() }) } } } },
        responses: { 200: { description: "a" } },
      }),
      (c) => c.text(c.req.valid("json").a),
    );

  it("leaves an NDJSON body to its route", async () => {
    const res = await router.request("/ndjson", {
      method: "POST",
      headers: { "Content-Type": "application/x-ndjson" },
      body: '{"a":1}\n{"a":2}',
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("2");
  });

  it("reads a JSON body for its route", async () => {
    const res = await router.request("/json", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '{"a":"x"}',
    });
    expect(await res.text()).toBe("x");
  });
});
