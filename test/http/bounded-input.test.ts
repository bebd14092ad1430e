import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, tooDeepAt } from "../../src/http/json-depth";
import { adminSession, call, createUser } from "../support/api";
import { UNUSABLE_HASHES, userWithHash } from "../support/hashes";
import { eventTypes, expectError } from "./helpers";

/**
 * Issue 24 over HTTP. Bounded parsing: a body nested thousands deep (14 KB, under the body limit)
 * once overflowed the stack of the lone-surrogate walk and answered 500; bodies are measured before
 * they are parsed, and deeper than MAX_JSON_DEPTH is FastAPI's 400 for a body its parser gives up on.
 * Bounded hashes: a stored hash out of bounds or malformed is a 401 at login, never a 500, and an
 * import line carrying one is refused.
 */

const PARSE_ERROR = { error: "HTTP Error", message: "There was an error parsing the body", type: "HTTPException" };
const JSON_HEADERS = { "Content-Type": "application/json" };
const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
/** The body: 7,000 arrays deep under one key, 14 KB. */
const HOSTILE = `{"a":${nested(7_000)}}`;

let admin: { id: string; token: string };

beforeAll(async () => {
  admin = await adminSession();
});

describe("a body nested deeper than the limit: 400, never a 500", () => {
  it("on login, without a token", async () => {
    const res = await call("POST", "/v1/auth/login/", { raw: HOSTILE, headers: JSON_HEADERS });
    expectError(res, 400, PARSE_ERROR);
  });

  it("on create, update, password and suspend, and nothing is appended", async () => {
    const user = await createUser(admin.token);
    for (const [method, path] of [
      ["POST", "/v1/users/"],
      ["PUT", `/v1/users/${user.id}/`],
      ["PUT", `/v1/users/${user.id}/password/`],
      ["POST", `/v1/users/${user.id}/suspend/`],
    ] as const) {
      const res = await call(method, path, { token: admin.token, raw: HOSTILE, headers: JSON_HEADERS });
      expectError(res, 400, PARSE_ERROR);
    }
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("on an admin route (a correction)", async () => {
    const user = await createUser(admin.token);
    const body = `{"reason":"r","changes":{"first_name":${nested(7_000)}}}`;
    const res = await call("POST", `/admin/users/${user.id}/corrections`, {
      token: admin.token,
      raw: body,
      headers: JSON_HEADERS,
    });
    expectError(res, 400, PARSE_ERROR);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("at the limit the body is read as usual: a 422 from the schema, not the 400", async () => {
    const res = await call("POST", "/v1/auth/login/", {
      raw: `{"username":${nested(MAX_JSON_DEPTH - 1)},"password":"x"}`,
      headers: JSON_HEADERS,
    });
    expectError(res, 422, { type: "RequestValidationError" });
  });

  it("a lone surrogate deep inside an allowed body is still found (the walk has its own stack)", async () => {
    const deep = `${"[".repeat(MAX_JSON_DEPTH - 1)}"\\ud800"${"]".repeat(MAX_JSON_DEPTH - 1)}`;
    const res = await call("POST", "/v1/auth/login/", { raw: `{"username":${deep}}`, headers: JSON_HEADERS });
    const body = expectError(res, 422, { type: "RequestValidationError" });
    expect(body.details).toEqual([expect.objectContaining({ type: "string_unicode" })]);
  });
});

describe("tooDeepAt, the measure", () => {
  const depthOf = (value: unknown): number =>
    value !== null && typeof value === "object"
      ? 1 + Math.max(0, ...Object.values(value as Record<string, unknown>).map(depthOf))
      : 0;

  it("counts brackets outside strings only, escaped quotes included", () => {
    expect(tooDeepAt('{"a":"[[[[\\"[[[["}', 1)).toBeNull();
    expect(tooDeepAt('{"a":{"b":1}}', 1)).toBe(5);
    expect(tooDeepAt(nested(100_000), MAX_JSON_DEPTH)).toBe(MAX_JSON_DEPTH);
  });

  it("agrees with the parsed value's depth", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: 7 }), (value, limit) => {
        expect(tooDeepAt(JSON.stringify(value), limit) === null).toBe(depthOf(value) <= limit);
      }),
      { seed: 24, numRuns: 300 },
    );
  });
});

describe("an import line nested deeper than the limit", () => {
  /** A valid USER_CREATED line of our export, but for a deeply nested extra field in its data. */
  function deepLine(levels: number): string {
    const id = crypto.randomUUID();
    const name = `deep${id.slice(0, 8)}`;
    const data = {
      username: name,
      email: `${name}@example.com`,
      first_name: "D",
      last_name: "L",
      password_hash: `pbkdf2-sha256$1000$${"A".repeat(22)}==$${"A".repeat(43)}=`,
      hashing_method: "pbkdf2-sha256",
      role: "user",
    };
    const metadata = { actor_id: null, actor_username: null, request_id: null, idempotency_key: null, reason: null };
    const event = { id: crypto.randomUUID(), aggregate_id: id, event_type: "USER_CREATED", version: 1 };
    const rest = { timestamp: "2024-01-01T00:00:00.000Z", revision: 1, metadata };
    return JSON.stringify({ ...event, ...rest, data }).replace('"role":"user"', `"role":"user","x":${nested(levels)}`);
  }

  // A line is measured before it is parsed: its data would otherwise reach the RPC serialiser,
  // whose stack overflows (a 500).
  it("is a rejected line, not a 500", async () => {
    const res = await call<{ imported: number; rejected: { line: number }[] }>("POST", "/admin/import", {
      token: admin.token,
      raw: `${deepLine(7_000)}\n`,
      headers: { "Content-Type": "application/x-ndjson" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.imported).toBe(0);
    expect(res.body.rejected).toEqual([expect.objectContaining({ line: 1 })]);
  });
});

describe("a stored password hash out of bounds or malformed", () => {
  it.each(UNUSABLE_HASHES)("%s: the login is a 401, as a wrong password", async (_name, hash) => {
    const events = userWithHash(hash);
    const user = events[0]!;
    // Stored as the object's import stores it: the HTTP import refuses such lines now (below).
    expect(await env.USER_STREAM.getByName(user.aggregate_id).importEvents(events)).toMatchObject({ ok: true });
    const res = await call("POST", "/v1/auth/login/", {
      body: { username: user.data.username, password: "any-password-1" },
    });
    expectError(res, 401, { error: "HTTP Error", type: "HTTPException" });
  });

  it.each(UNUSABLE_HASHES)("%s: an import line carrying it is refused, naming why", async (_name, hash) => {
    const [event] = userWithHash(hash);
    const res = await call<{ imported: number; rejected: { line: number; error: string }[] }>("POST", "/admin/import", {
      token: admin.token,
      raw: `${JSON.stringify(event)}\n`,
      headers: { "Content-Type": "application/x-ndjson" },
    });
    expect(res.status).toBe(200);
    expect(res.body.imported).toBe(0);
    expect(res.body.rejected).toEqual([
      { line: 1, aggregate_id: event!.aggregate_id, error: expect.stringMatching(/^data\.password_hash refused: /) },
    ]);
  });
});
