import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { FeedPage } from "../../src/admin/schemas";
import { MAX_FEED_WAITERS, feedEnd } from "../../src/read/feed";
import { adminSession, call, createUser, login } from "../support/api";
import { PASSWORD } from "../support/builders";
import { expectError, type ValidationIssue } from "./helpers";

let admin: { id: string; token: string };
beforeAll(async () => {
  admin = await adminSession();
});

const feed = (query: string) => call<FeedPage>("GET", `/admin/feed?${query}`, { token: admin.token });

/** The user's events in the feed after `after`, once the projector has put `count` of them there. */
async function feedOfUser(after: number, userId: string, count: number) {
  let mine: FeedPage["events"] = [];
  await vi.waitUntil(
    async () => {
      const res = await feed(`after=${after}&limit=1000`);
      expect(res.status).toBe(200);
      mine = res.body.events.filter((event) => event.aggregate_id === userId);
      return mine.length >= count;
    },
    { timeout: 10_000, interval: 20 },
  );
  return mine;
}

describe("GET /admin/feed", () => {
  it("pages every user's events by position: after, limit and event_types, each user in revision order, no secret", async () => {
    const start = await feedEnd(env.DB);
    const user = await createUser(admin.token);
    await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: "Fed" } });
    await call("POST", `/v1/users/${user.id}/suspend/`, { token: admin.token });

    const mine = await feedOfUser(start, user.id, 3);

    expect(mine.map((event) => [event.revision, event.event_type])).toEqual([
      [1, "USER_CREATED"],
      [2, "USER_UPDATED"],
      [3, "USER_SUSPENDED"],
    ]);
    const positions = mine.map((event) => event.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(positions[0]).toBeGreaterThan(start);
    expect(mine[0]).toMatchObject({ data: { username: user.username }, metadata: { actor_id: admin.id } });

    // One at a time from just before the user's first event: each page's next_after is the next after.
    const first = await feed(`after=${positions[0]! - 1}&limit=1`);
    expect(first.body).toEqual({ events: [mine[0]], next_after: positions[0] });
    const updates = await feed(`after=${start}&event_types=USER_UPDATED,USER_SUSPENDED&limit=1000`);
    expect(updates.status).toBe(200);
    expect(new Set(updates.body.events.map((event) => event.event_type))).toEqual(
      new Set(["USER_UPDATED", "USER_SUSPENDED"]),
    );
    expect(updates.body.events.filter((event) => event.aggregate_id === user.id)).toEqual(mine.slice(1));
    // The public event: the hashing method is named, the hash never is.
    const text = JSON.stringify((await feed(`after=${start}&limit=1000`)).body);
    expect(text).not.toContain("password_hash");
    expect(text).not.toContain(PASSWORD);
  });

  it("answers an empty page with next_after = after, from the start by default", async () => {
    const end = await feedEnd(env.DB);
    const beyond = await feed(`after=${end + 1_000_000}`);
    expect(beyond.body).toEqual({ events: [], next_after: end + 1_000_000 });
    const fromStart = await feed("");
    expect(fromStart.status).toBe(200);
    expect(fromStart.body.events[0]?.position).toBeGreaterThan(0);
    expect(fromStart.body.events.length).toBeLessThanOrEqual(100);
  });

  it("with wait, holds the request until a newer event exists, then answers with it", async () => {
    const user = await createUser(admin.token);
    await feedOfUser(0, user.id, 1);
    const end = await feedEnd(env.DB);

    const waiting = feed(`after=${end}&event_types=USER_DELETED&wait=20`);
    await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token });
    const res = await waiting;

    expect(res.status).toBe(200);
    expect(res.body.events.map((event) => [event.aggregate_id, event.event_type])).toEqual([[user.id, "USER_DELETED"]]);
    expect(res.body.next_after).toBe(res.body.events[0]!.position);
  });

  it("with wait and nothing newer, answers an empty page once the wait is over", async () => {
    const end = await feedEnd(env.DB);
    const started = Date.now();
    const res = await feed(`after=${end}&event_types=USER_RESTORED&wait=1`);
    expect(res.body).toEqual({ events: [], next_after: end });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("a long poll whose client hangs up gives its waiting place back (request.signal)", async () => {
    const end = await feedEnd(env.DB);
    const query = `after=${end}&event_types=USER_RESTORED`;
    const hangUps = Array.from({ length: MAX_FEED_WAITERS }, () => new AbortController());
    const polls = hangUps.map((hangUp) =>
      exports.default
        .fetch(`http://localhost/admin/feed?${query}&wait=20`, {
          headers: { Authorization: `Bearer ${admin.token}` },
          signal: hangUp.signal,
        })
        .catch(() => "hung up"),
    );
    // Every place is held: one more long poll is turned away at once.
    await vi.waitUntil(async () => (await feed(`${query}&wait=1`)).status === 503, { timeout: 5_000, interval: 20 });
    for (const hangUp of hangUps) hangUp.abort();
    expect(new Set(await Promise.all(polls))).toEqual(new Set(["hung up"]));
    // Without the abort listener the places stay taken until the isolate goes (the cancelled
    // requests never reach their `finally`), and every long poll after them is a 503.
    const res = await feed(`${query}&wait=1`);
    expect(res.status).toBe(200);
  });

  it.each([
    ["after=-1", "after"],
    ["after=1.5", "after"],
    ["after=0x10", "after"],
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["event_types=USER_EXPLODED", "event_types"],
    ["event_types=USER_CREATED,nope", "event_types"],
    ["wait=31", "wait"],
    ["wait=-1", "wait"],
  ])("refuses %s with a 422 naming the parameter", async (query, name) => {
    const body = expectError(await feed(query), 422, { type: "RequestValidationError" });
    const details = body.details as ValidationIssue[];
    expect(details.some((issue) => issue.loc[0] === "query" && issue.loc[1] === name)).toBe(true);
  });

  it("needs an admin", async () => {
    expectError(await call("GET", "/admin/feed"), 401, {});
    const user = await createUser(admin.token);
    const token = await login(user.username);
    expectError(await call("GET", "/admin/feed", { token }), 403, {});
  });
});
