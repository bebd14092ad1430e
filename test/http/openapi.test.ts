import { describe, expect, it } from "vitest";
import apiDoc from "../../docs/API.md?raw";
import { call } from "../support/api";
import { eventSchemas } from "../../src/domain/events";

const EVENT_TYPES = Object.keys(eventSchemas);

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { security?: unknown[]; responses?: Record<string, unknown> }>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
}

describe("OpenAPI", () => {
  it("GET /v1/openapi.json describes the user routes", async () => {
    const res = await call<OpenApiDocument>("GET", "/v1/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toContain("application/json");
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\./);
    const paths = doc.paths;
    expect(Object.keys(paths["/v1/auth/login"] ?? {})).toEqual(["post"]);
    expect(Object.keys(paths["/v1/users"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(Object.keys(paths["/v1/users/{user_id}"] ?? {}).sort()).toEqual(["delete", "get", "put"]);
    expect(Object.keys(paths["/v1/users/{user_id}/password"] ?? {})).toEqual(["put"]);
    expect(Object.keys(paths["/v1/users/{user_id}/suspend"] ?? {})).toEqual(["post"]);
    expect(Object.keys(paths["/v1/users/{user_id}/reactivate"] ?? {})).toEqual(["post"]);
    // Commands are documented as bearer-protected, with the contract's error statuses.
    const create = paths["/v1/users"]?.post;
    expect(create?.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(create?.responses ?? {})).toEqual(
      expect.arrayContaining(["200", "401", "403", "409", "412", "413", "422"]),
    );
    expect(doc.components?.securitySchemes).toHaveProperty("bearer");
    expect(doc.components?.schemas).toHaveProperty("Error");
  });

  it("documents every admin route, and every route but the login as bearer-protected", async () => {
    const { paths } = (await call<OpenApiDocument>("GET", "/v1/openapi.json")).body;
    const methods = (path: string) => Object.keys(paths[path] ?? {}).sort();
    expect(methods("/admin/users/{user_id}/stream")).toEqual(["get"]);
    expect(methods("/admin/users/{user_id}/corrections")).toEqual(["post"]);
    expect(methods("/admin/users/{user_id}/erase")).toEqual(["post"]);
    expect(methods("/admin/users/{user_id}/replay")).toEqual(["post"]);
    expect(methods("/admin/projections/rebuild")).toEqual(["get", "post"]);
    expect(methods("/admin/projections/status")).toEqual(["get"]);
    expect(methods("/admin/dead-letters")).toEqual(["get"]);
    expect(methods("/admin/dead-letters/{id}/redrive")).toEqual(["post"]);
    expect(methods("/admin/bootstrap/admins")).toEqual(["post"]);
    expect(methods("/admin/import")).toEqual(["post"]);
    expect(methods("/admin/export")).toEqual(["get"]);
    expect(methods("/admin/requests/{request_id}")).toEqual(["get"]);
    const unprotected = Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => JSON.stringify(operation.security) !== JSON.stringify([{ bearer: [] }]))
        .map(([method]) => `${method} ${path}`),
    );
    expect(unprotected).toEqual(["post /v1/auth/login"]);
  });

  it("docs/API.md documents every route the OpenAPI document lists", async () => {
    const { paths } = (await call<OpenApiDocument>("GET", "/v1/openapi.json")).body;
    // Path parameters are written {id} in the doc, {user_id} in the schemas: only their places matter.
    const shape = (path: string) => path.replace(/\{[^}]+\}/g, "{}").replace(/\/$/, "");
    const documented = new Set<string>();
    for (const row of apiDoc.split("\n").filter((line) => line.startsWith("|"))) {
      const [methods = "", route = ""] = row.split("|").slice(1, 3);
      const path = /`(\/[^`]*)`/.exec(route)?.[1];
      if (!path) continue;
      for (const method of methods.match(/\b(GET|POST|PUT|PATCH|DELETE)\b/g) ?? []) {
        documented.add(`${method} ${shape(path)}`);
      }
    }
    const missing = Object.entries(paths).flatMap(([path, operations]) =>
      Object.keys(operations)
        .map((method) => `${method.toUpperCase()} ${shape(path)}`)
        .filter((operation) => !documented.has(operation)),
    );
    expect(missing, "routes missing from a table row of docs/API.md").toEqual([]);
  });

  it("describes an event's data by its type, without its secret fields", async () => {
    const { components } = (await call<OpenApiDocument>("GET", "/v1/openapi.json")).body;
    const event = components?.schemas?.["Event"] as {
      oneOf?: { properties: { event_type: { enum: string[] }; data: { properties: Record<string, unknown> } } }[];
    };
    const variants = new Map((event.oneOf ?? []).map((v) => [v.properties.event_type.enum[0], v.properties.data]));
    expect([...variants.keys()].sort()).toEqual([...EVENT_TYPES].sort());
    const created = Object.keys(variants.get("USER_CREATED")?.properties ?? {});
    expect(created).toEqual(expect.arrayContaining(["username", "email", "first_name", "last_name", "role"]));
    for (const data of variants.values()) expect(Object.keys(data.properties)).not.toContain("password_hash");
  });

  it("GET /docs serves the Swagger UI page", async () => {
    const res = await call<string>("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toContain("text/html");
    expect(res.body).toContain("<html");
    // Swagger UI from the Worker's own assets; its start-up script loads /v1/openapi.json.
    expect(res.body).toContain("/vendor/swagger-ui/swagger-ui-bundle.js");
  });
});
