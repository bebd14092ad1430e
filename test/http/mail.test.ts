import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { mailSink } from "../../src/deliver/mail-sink";
import type { FeedEvent } from "../../src/read/feed";
import type { MailPage } from "../../src/admin/mail-schemas";
import { adminSession, call, createUser, tokenWithoutLogin } from "../support/api";
import { userCreated } from "../support/builders";

let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

/** A user welcomed through the sink, as the mail subscription would. */
async function welcomed(): Promise<FeedEvent & ReturnType<typeof userCreated>> {
  const event = { ...userCreated(crypto.randomUUID()), position: 1 };
  expect(await mailSink(env).deliver(event, 1)).toMatchObject({ outcome: "delivered" });
  return event;
}

// The owed half (pending and dead deliveries) comes from the mail subscription's object: tested with it.
describe("GET /admin/mail", () => {
  it("lists a user's sent welcome with its message id", async () => {
    const event = await welcomed();
    const res = await call<MailPage>("GET", `/admin/mail?user_id=${event.aggregate_id}&state=sent`, { token: admin });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      {
        user_id: event.aggregate_id,
        kind: "welcome",
        state: "sent",
        recipient: event.data.email,
        subject: "Welcome!",
        sent_at: expect.any(String),
        message_id: expect.stringMatching(/@users\.example>?$/),
        attempts: 1,
        last_error: null,
        event_id: event.id,
        next_attempt_at: null,
      },
    ]);
    expect(res.body.next_cursor).toBeNull();
  });

  it("pages sent mail newest first with a cursor", async () => {
    await welcomed();
    await welcomed();
    await welcomed();
    const first = await call<MailPage>("GET", "/admin/mail?state=sent&limit=2", { token: admin });
    expect(first.status).toBe(200);
    expect(first.body.results).toHaveLength(2);
    const second = await call<MailPage>("GET", `/admin/mail?state=sent&limit=2&cursor=${first.body.next_cursor}`, {
      token: admin,
    });
    expect(second.status).toBe(200);
    const seen = [...first.body.results, ...second.body.results].map((r) => `${r.sent_at} ${r.user_id}`);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort().reverse());
  });

  it("refuses a user_id that is no UUID and a forged cursor (422), and non-admins (401, 403)", async () => {
    expect((await call("GET", "/admin/mail?user_id=nope&state=sent", { token: admin })).status).toBe(422);
    expect((await call("GET", "/admin/mail?state=sent&cursor=abc", { token: admin })).status).toBe(422);
    expect((await call("GET", "/admin/mail?state=sent")).status).toBe(401);
    const user = await createUser(admin);
    const own = await tokenWithoutLogin(user.id);
    expect((await call("GET", "/admin/mail?state=sent", { token: own })).status).toBe(403);
  });
});
