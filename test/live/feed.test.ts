import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { CLOSE } from "../../src/live/protocol";
import { adminSession, call, createUser } from "../support/api";
import { watcherOf } from "./helpers";

/** End to end: HTTP → object → real local queue → projector → the admins' live feed. */

/** Opens the feed and waits until the admin's own object confirmed it (the socket is live then). */
async function openFeed(admin: { id: string; token: string }) {
  const res = await exports.default.fetch("http://localhost/admin/events/live", {
    headers: { Upgrade: "websocket", Authorization: `Bearer ${admin.token}` },
  });
  const feed = watcherOf(res);
  await vi.waitUntil(() =>
    runInDurableObject(
      env.USER_STREAM.getByName(admin.id),
      (_, state) => state.storage.sql.exec("SELECT 1 FROM watching WHERE target = 'feed:all'").toArray().length > 0,
    ),
  );
  return feed;
}

describe("GET /admin/events/live", () => {
  it("shows every user's events once the projector has committed them, each once, in each user's order", async () => {
    const admin = await adminSession();
    const feed = await openFeed(admin);
    const [alice, bob] = [await createUser(admin.token), await createUser(admin.token)];
    for (const user of [alice, bob, alice]) {
      const put = await call("PUT", `/v1/users/${user.id}/`, { token: admin.token, body: { first_name: "Seen" } });
      expect(put.status).toBe(200);
    }
    const of = (userId: string) =>
      feed.frames.flatMap((f) => ("type" in f || f.aggregate_id !== userId ? [] : [f.revision]));
    await vi.waitUntil(() => of(alice.id).length === 3 && of(bob.id).length === 2, { timeout: 10_000 });
    expect(of(alice.id)).toEqual([1, 2, 3]);
    expect(of(bob.id)).toEqual([1, 2]);
    expect(JSON.stringify(feed.frames)).not.toContain("password_hash");
    feed.ws.close(1000, "done");
  });

  it("closes an admin's feed when that admin is suspended", async () => {
    const [admin, other] = [await adminSession(), await adminSession()];
    const feed = await openFeed(admin);
    const suspend = await call("POST", `/v1/users/${admin.id}/suspend/`, {
      token: other.token,
      body: { reason: "left" },
    });
    expect(suspend.status).toBe(200);
    expect(await feed.untilClosed()).toEqual(CLOSE.revoked);
  });
});
