import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, createUser, login } from "../support/api";

/**
 * Property-based fuzzing of the HTTP surface, inside the Workers runtime: command bodies, headers
 * and query parameters drawn by fast-check. Whatever is sent: never a 5xx, every error in the
 * contract's envelope, and a rejected request leaves the user's stream exactly as it was.
 * Header values are ASCII: workerd warns on every non-ASCII one, and `new Headers()` refuses some.
 */

let admin: { id: string; token: string };
let target: { id: string; token: string };

beforeAll(async () => {
  admin = await adminSession();
  const user = await createUser(admin.token);
  target = { id: user.id, token: await login(user.username) };
});

const RUNS = 150;

async function streamLength(userId: string): Promise<number> {
  return (await env.USER_STREAM.getByName(userId).readStream(1, 10_000)).length;
}

const asciiText = fc.string({ unit: "grapheme-ascii", maxLength: 40 });
const anyText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.constantFrom("", " ", "\u0000", "\uD800", "ａｄｍｉｎ", "аdmin", "ad\u200Bmin", "😀a", "0x10", "1e3", "-1"),
);
const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  anyText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(anyText, { maxLength: 3 }),
  fc.dictionary(asciiText, anyText, { maxKeys: 3 }),
);
const FIELDS = [
  "username",
  "email",
  "first_name",
  "last_name",
  "password",
  "current_password",
  "new_password",
  "reason",
  "role",
  "changes",
];
const commandBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), jsonValue, { maxKeys: 6 }).map((body) => JSON.stringify(body)),
  jsonValue.map((value) => JSON.stringify(value) ?? ""),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.constantFrom("", "{", "[]", "null", '{"first_name":"\\ud800"}', '{"reason":"a\\u0000b"}'),
);
const contentType = fc.oneof(
  fc.constantFrom(
    "application/json",
    "APPLICATION/JSON",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/json-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
  ),
  asciiText,
);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const headers = fc.record({
  "content-type": maybe(contentType),
  "if-match": maybe(fc.oneof(fc.constantFrom('"1"', "1", "", "  ", 'W/"2"', "*", "0x1"), asciiText)),
  "idempotency-key": maybe(asciiText),
  "x-request-id": maybe(asciiText),
});

const COMMANDS = [
  ["PUT", ""],
  ["PUT", "password/"],
  ["POST", "suspend/"],
  ["POST", "reactivate/"],
  ["POST", "restore/"],
  ["DELETE", ""],
] as const;

function request(
  method: string,
  path: string,
  token: string,
  extra: Record<string, string | undefined>,
  body?: string,
): Request | null {
  try {
    const h = new Headers({ Authorization: `Bearer ${token}` });
    for (const [name, value] of Object.entries(extra)) if (value !== undefined) h.set(name, value);
    return new Request(`http://localhost${path}`, { method, headers: h, body: method === "GET" ? undefined : body });
  } catch {
    return null; // a header value `Headers` refuses never reaches a server
  }
}

/** The response is the contract's: no 5xx, and any error is `{error, message, type[, details]}`. */
async function expectContract(res: Response): Promise<void> {
  expect(res.status, await res.clone().text()).toBeLessThan(500);
  if (res.status < 400) return;
  const body = (await res.json()) as Record<string, unknown>;
  expect(typeof body.error).toBe("string");
  expect(typeof body.message).toBe("string");
  expect(typeof body.type).toBe("string");
  expect(Object.keys(body).every((key) => ["error", "message", "type", "details"].includes(key))).toBe(true);
}

describe("fuzzing the HTTP surface", () => {
  it("commands on a user: never a 5xx, always the envelope, a rejection changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...COMMANDS),
        fc.boolean(),
        commandBody,
        headers,
        async ([method, suffix], asAdmin, body, extra) => {
          const req = request(
            method,
            `/v1/users/${target.id}/${suffix}`,
            asAdmin ? admin.token : target.token,
            extra,
            body,
          );
          fc.pre(req !== null);
          const before = await streamLength(target.id);
          const res = await exports.default.fetch(req!);
          await expectContract(res);
          if (res.status >= 400) expect(await streamLength(target.id)).toBe(before);
        },
      ),
      { numRuns: RUNS, seed: 20261130 },
    );
  });

  it("creates: never a 5xx, always the envelope", async () => {
    await fc.assert(
      fc.asyncProperty(commandBody, headers, async (body, extra) => {
        const req = request("POST", "/v1/users/", admin.token, extra, body);
        fc.pre(req !== null);
        await expectContract(await exports.default.fetch(req!));
      }),
      { numRuns: RUNS, seed: 20261130 },
    );
  });

  it("queries: any parameters give an answer or a clear error, never a 5xx, and change nothing", async () => {
    const paths = [
      "/v1/users/",
      `/v1/users/${target.id}/`,
      `/v1/users/${target.id}/history/`,
      `/v1/users/${target.id}/events/`,
    ];
    const names = [
      "page",
      "page_size",
      "username",
      "email",
      "status",
      "min_revision",
      "consistency",
      "timestamp",
      "revision",
      "from_revision",
      "limit",
      "from_timestamp",
      "to_timestamp",
    ];
    const value = fc.oneof(
      fc.constantFrom(
        "1",
        "0",
        "-1",
        "0x10",
        "1e1",
        " 5",
        "%00",
        "3:47PM",
        "2026-11-30T12:00:00Z",
        "99999999999999999",
      ),
      fc.string({ maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.array(fc.tuple(fc.oneof(fc.constantFrom(...names), asciiText), value), { maxLength: 4 }),
        async (path, params) => {
          const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
          const req = request("GET", `${path}?${query}`, admin.token, {});
          fc.pre(req !== null);
          const before = await streamLength(target.id);
          await expectContract(await exports.default.fetch(req!));
          expect(await streamLength(target.id)).toBe(before);
        },
      ),
      { numRuns: RUNS, seed: 20261130 },
    );
  });
});
