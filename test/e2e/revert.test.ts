import { beforeAll, describe, expect, it } from "vitest";
import type { PublicUser } from "../../src/domain/user";
import { adminSession, call, createUser } from "../support/api";
import { uniqueName } from "../support/builders";
import type { EventsPageBody as EventsPage } from "../support/types";

/**
 * Issue 29's revert, end to end: a user changed in every way a support call meets (renamed, new
 * email and names, suspended, deleted), put back as it was at a revision and at an instant; the
 * strong read and the read model then show the historical state, and the stream still holds
 * every earlier event.
 */

let admin: { id: string; token: string; username: string };
beforeAll(async () => {
  admin = await adminSession();
});

async function ok<T = { revision: number; events: string[] }>(method: string, path: string, body?: unknown) {
  const res = await call<T>(method, path, { token: admin.token, body });
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(200);
  return res.body;
}

const fields = ({ username, email, first_name, last_name, role, status }: PublicUser) => ({
  username,
  email,
  first_name,
  last_name,
  role,
  status,
});

async function ruin(userId: string) {
  await ok("POST", `/admin/users/${userId}/corrections`, {
    changes: { username: uniqueName("ruined"), first_name: "Wrong", last_name: "Person" },
    reason: "a mistaken correction",
  });
  await ok("PUT", `/v1/users/${userId}/`, { email: `${uniqueName("wrong")}@example.com` });
  await ok("POST", `/v1/users/${userId}/suspend/`, { reason: "mistaken" });
  await ok("DELETE", `/v1/users/${userId}/`, { reason: "mistaken" });
}

describe("revert, end to end", () => {
  it("to a revision: the strong read equals the history then, the stream keeps everything", async () => {
    const user = await createUser(admin.token);
    await ok("PUT", `/v1/users/${user.id}/`, { first_name: "Sarah" });
    const then = await ok<PublicUser>("GET", `/v1/users/${user.id}/history/?revision=2`);
    await ruin(user.id);
    const before = await ok<EventsPage>("GET", `/v1/users/${user.id}/events/`);

    const reverted = await ok("POST", `/v1/users/${user.id}/revert/`, { to_revision: 2, reason: "ticket #29" });

    expect(reverted.events).toEqual(["USER_RESTORED", "USER_CORRECTED", "USER_REACTIVATED"]);
    const strong = await ok<{ user: PublicUser }>("GET", `/v1/users/${user.id}/?consistency=strong`);
    expect(fields(strong.user)).toEqual(fields(then));
    expect(strong.user.revision).toBe(reverted.revision);
    const after = await ok<EventsPage>("GET", `/v1/users/${user.id}/events/`);
    expect(after.results.slice(0, before.results.length)).toEqual(before.results);
    expect(after.results.slice(before.results.length).map((event) => event.event_type)).toEqual(reverted.events);
    // The read model follows: the projected user is then's too.
    const read = await ok<{ user: PublicUser }>("GET", `/v1/users/${user.id}/?min_revision=${reverted.revision}`);
    expect(fields(read.user)).toEqual(fields(then));
  });

  it("to an instant: the same, the preview announcing what the revert then appends", async () => {
    const user = await createUser(admin.token);
    const created = await ok<PublicUser>("GET", `/v1/users/${user.id}/history/?revision=1`);
    // An instant after the creation, before the first change (times are milliseconds).
    await new Promise((resolve) => setTimeout(resolve, 10));
    const instant = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await ruin(user.id);

    const preview = await ok<{ revision: number; events: string[]; dry_run: boolean }>(
      "POST",
      `/v1/users/${user.id}/revert/?dry_run=true`,
      { to_timestamp: instant, reason: "ticket #29" },
    );
    expect(preview.dry_run).toBe(true);
    const reverted = await call<{ revision: number; events: string[] }>("POST", `/v1/users/${user.id}/revert/`, {
      token: admin.token,
      body: { to_timestamp: instant, reason: "ticket #29" },
      headers: { "If-Match": `"${preview.revision}"` },
    });
    expect(reverted.status).toBe(200);
    expect(reverted.body.events).toEqual(preview.events);
    const strong = await ok<{ user: PublicUser }>("GET", `/v1/users/${user.id}/?consistency=strong`);
    expect(fields(strong.user)).toEqual(fields(created));
  });
});
