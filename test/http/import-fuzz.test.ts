import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { isValidEmail, usernameProblem, FIELD_MAX } from "../../src/domain/rules";
import { adminSession, call } from "../support/api";

/**
 * Fuzzing `POST /admin/import` (issue 24): bodies of random, oversized and hostile lines drawn by
 * fast-check, a bounded number of runs. Whatever is sent: never a 5xx, every line accounted for
 * (imported + skipped + rejected), every user the import created obeys the commands' rules, and
 * its outbox drains (nothing the queue refuses was let in).
 */

let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

const RUNS = 25;
const HASH = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";

const hostileText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(
    "ad\u200dmin",
    "ad\u00admin",
    "ad\u0000min",
    "\u202eadmin",
    "ａｄｍｉｎ",
    "аdmin",
    "<script>x</script>",
    "[erased]",
    "not-an-email",
    "a@b",
  ),
  fc.integer({ min: 101, max: 210_000 }).map((n) => "x".repeat(n)),
);
const plainName = fc.stringMatching(/^[a-z][a-z0-9]{3,12}$/);
const eventType = fc.constantFrom(
  "USER_CREATED",
  "USER_UPDATED",
  "USER_DELETED",
  "USER_RESTORED",
  "USER_ERASED",
  "PASSWORD_CHANGED",
  "USER_SUSPENDED",
  "USER_CORRECTED",
);
const metadata = fc.record({
  actor_id: fc.option(hostileText, { nil: null }),
  actor_username: fc.option(hostileText, { nil: null }),
  request_id: fc.constant(null),
  idempotency_key: fc.constant(null),
  reason: fc.option(hostileText, { nil: null }),
});

/** One user's lines: a plausible creation (or a hostile one), then random events. */
const userLines = fc
  .record({
    name: plainName,
    hostile: fc.dictionary(
      fc.constantFrom("username", "email", "first_name", "last_name", "reason", "status", "role"),
      hostileText,
      { maxKeys: 2 },
    ),
    later: fc.array(fc.tuple(eventType, fc.dictionary(fc.constantFrom("first_name", "email", "reason"), hostileText)), {
      maxLength: 3,
    }),
    meta: metadata,
    garbage: fc.option(fc.oneof(fc.string({ maxLength: 50 }), fc.constant('{"aggregate_id":')), { nil: null }),
  })
  .map(({ name, hostile, later, meta, garbage }) => {
    const userId = crypto.randomUUID();
    const line = (revision: number, event_type: string, data: Record<string, unknown>) =>
      JSON.stringify({
        id: crypto.randomUUID(),
        aggregate_id: userId,
        event_type,
        version: event_type === "USER_DELETED" ? 2 : 1,
        timestamp: new Date(Date.UTC(2025, 0, 1, 0, revision)).toISOString(),
        revision,
        data,
        metadata: meta,
      });
    const created = {
      username: `${name}${userId.slice(0, 6)}`,
      email: `${name}${userId.slice(0, 6)}@example.com`,
      first_name: "F",
      last_name: "L",
      password_hash: HASH,
      hashing_method: "bcrypt",
      role: "user",
      ...hostile,
    };
    const lines = [line(1, "USER_CREATED", created), ...later.map(([type, data], i) => line(i + 2, type, data))];
    if (garbage !== null) lines.push(garbage);
    return { userId, lines };
  });

describe("fuzzing POST /admin/import", () => {
  it("never answers 5xx, accounts for every line, and lets in only users who obey the rules and drain", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(userLines, { minLength: 1, maxLength: 4 }), async (users) => {
        const body = users.flatMap((user) => user.lines).join("\n") + "\n";
        const res = await call<any>("POST", "/admin/import", {
          token: admin,
          raw: body,
          headers: { "Content-Type": "application/x-ndjson" },
        });
        expect(res.status).toBeLessThan(500);
        if (res.status !== 200) return;
        const lines = body.split("\n").filter((text) => text.trim() !== "").length;
        expect(res.body.imported + res.body.skipped + res.body.rejected.length).toBe(lines);
        for (const { userId } of users) {
          const stub = env.USER_STREAM.getByName(userId);
          const { user } = await stub.getUser();
          if (!user) continue;
          if (user.status !== "erased") {
            expect(usernameProblem(user.username)).toBeNull();
            expect(user.username.length).toBeLessThanOrEqual(FIELD_MAX.username);
            expect(isValidEmail(user.email)).toBe(true);
            expect((user.first_name ?? "").length).toBeLessThanOrEqual(FIELD_MAX.correctedName);
          }
          // Nothing the queue refuses was let in: the outbox drains. An import's safety-net alarm
          // (which forgets what the read side confirmed) waits minutes: it is run here at once.
          await vi.waitUntil(
            async () => {
              await runDurableObjectAlarm(stub);
              return (await stub.status()).outboxSize === 0;
            },
            { timeout: 10_000, interval: 50 },
          );
        }
      }),
      { numRuns: RUNS },
    );
  });
});
