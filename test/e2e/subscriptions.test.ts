import { beforeAll, describe, expect, it, vi } from "vitest";
import { Webhook } from "standardwebhooks";
import { adminSession, call, createUser } from "../support/api";
import { RECEIVER_PORT } from "../support/receiver-port";

/**
 * The whole way to another service: HTTP commands → the user's object → the queue → the consumer,
 * which projects into the feed and wakes the subscriptions → each subscription's object reads the
 * feed and POSTs signed webhooks to a real receiver (test/node-support/receiver.ts); and the
 * welcome mail, which only the built-in mail subscription sends.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let admin: string;

beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

interface Logged {
  headers: Record<string, string>;
  body: string;
  status: number;
}

async function received(name: string): Promise<Logged[]> {
  return (await (await fetch(`${receiver}/log/${name}`)).json()) as Logged[];
}

describe("subscriptions, end to end", () => {
  it("a subscriber hears every command of several users, signed, each user's in revision order", async () => {
    const created = await call<{ id: string; secret: string }>("POST", "/admin/subscriptions", {
      token: admin,
      body: { url: `${receiver}/hook/e2e`, event_types: ["USER_CREATED", "USER_UPDATED"] },
    });
    expect(created.status).toBe(201);
    const users = await Promise.all(Array.from({ length: 3 }, () => createUser(admin)));
    for (let n = 1; n <= 3; n++)
      await Promise.all(
        users.map((user) => call("PUT", `/v1/users/${user.id}/`, { token: admin, body: { first_name: `N${n}` } })),
      );

    // Each user's revisions as received, a repeat (at least once: same webhook-id) counted once.
    const revisionsByUser = async () => {
      const revisions = new Map<string, number[]>();
      for (const request of await received("e2e")) {
        const payload = new Webhook(created.body.secret).verify(request.body, request.headers) as {
          data: { aggregate_id: string; revision: number };
        };
        const seen = revisions.get(payload.data.aggregate_id) ?? [];
        if (!seen.includes(payload.data.revision)) seen.push(payload.data.revision);
        revisions.set(payload.data.aggregate_id, seen);
      }
      return revisions;
    };
    // Every user's last revision heard, not a count of requests (a repeat would count).
    await vi.waitUntil(
      async () => {
        const revisions = await revisionsByUser();
        return users.every((user) => revisions.get(user.id)?.includes(4));
      },
      { timeout: 20_000, interval: 100 },
    );
    const revisions = await revisionsByUser();
    for (const user of users) expect(revisions.get(user.id)).toEqual([1, 2, 3, 4]);
  });

  it("a created user's welcome mail goes out through the mail subscription and is listed as sent", async () => {
    const user = await createUser(admin);
    await vi.waitUntil(
      async () => {
        const mail = await call<{ results: { state: string }[] }>("GET", `/admin/mail?user_id=${user.id}&state=sent`, {
          token: admin,
        });
        return mail.body.results.length === 1;
      },
      { timeout: 20_000, interval: 100 },
    );
    const mail = await call<{ results: { state: string; recipient: string; message_id: string | null }[] }>(
      "GET",
      `/admin/mail?user_id=${user.id}`,
      { token: admin },
    );
    expect(mail.body.results).toEqual([expect.objectContaining({ state: "sent", recipient: user.email })]);
  });
});
