import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { uniqueName } from "../support/builders";
import { type UserBody, eventTypes, expectError, streamOf } from "./helpers";

interface RevertBody {
  message: string;
  revision: number;
  events: string[];
  dry_run?: boolean;
  preview?: { event_type: string; data: Record<string, unknown> }[];
  conflicts?: { field: string; value: string }[];
}

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

const revert = (userId: string, body: object, headers: Record<string, string> = {}, query = "") =>
  call<RevertBody>("POST", `/v1/users/${userId}/revert/${query}`, { token: admin.token, body, headers });

const correct = (userId: string, changes: object) =>
  call("POST", `/admin/users/${userId}/corrections`, { token: admin.token, body: { changes, reason: "test" } });

describe("POST /v1/users/{id}/revert/", () => {
  it("to a revision: appends a correction and a status change, answers their types; the history stays", async () => {
    const user = await createUser(admin.token);
    const renamed = uniqueName("renamed");
    expect((await correct(user.id, { username: renamed, first_name: "Changed" })).status).toBe(200);
    expect((await call("POST", `/v1/users/${user.id}/suspend`, { token: admin.token })).status).toBe(200);
    const res = await revert(user.id, { to_revision: 1, reason: "ticket #29" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      message: "User reverted successfully",
      revision: 5,
      events: ["USER_CORRECTED", "USER_REACTIVATED"],
    });
    expect(res.headers.get("ETag")).toBe('"5"');
    const stream = await streamOf(user.id);
    expect(stream.map((event) => event.event_type)).toEqual([
      "USER_CREATED",
      "USER_CORRECTED",
      "USER_SUSPENDED",
      "USER_CORRECTED",
      "USER_REACTIVATED",
    ]);
    // The reason is the events' metadata, and the correction's own.
    expect(stream.slice(3).map((event) => event.metadata.reason)).toEqual(["ticket #29", "ticket #29"]);
    expect(stream[3]?.data).toMatchObject({ username: user.username, reason: "ticket #29" });
    const then = await call<UserBody>("GET", `/v1/users/${user.id}/history?revision=1`, { token: admin.token });
    const now = await call<UserBody>("GET", `/v1/users/${user.id}/history?revision=5`, { token: admin.token });
    const fields = ({ username, email, first_name, last_name, role, status }: UserBody) => ({
      username,
      email,
      first_name,
      last_name,
      role,
      status,
    });
    expect(fields(now.body)).toEqual(fields(then.body));
  });

  it("to an instant: the state the stream had then", async () => {
    const user = await createUser(admin.token);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const instant = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await call("DELETE", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);
    const res = await revert(user.id, { to_timestamp: instant, reason: "deleted by mistake" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.events).toEqual(["USER_RESTORED"]);
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED", "USER_RESTORED"]);
  });

  it("with nothing to change: 200, no events, the revision as it is", async () => {
    const user = await createUser(admin.token);
    const res = await revert(user.id, { to_revision: 1, reason: "nothing" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ revision: 1, events: [] });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED"]);
  });

  it("a stale If-Match: 412 with the current revision, nothing appended", async () => {
    const user = await createUser(admin.token);
    await correct(user.id, { first_name: "Changed" });
    const res = await revert(user.id, { to_revision: 1, reason: "stale" }, { "If-Match": '"1"' });
    expectError(res, 412, { details: { current_revision: 2 } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_CORRECTED"]);
    const fresh = await revert(user.id, { to_revision: 1, reason: "fresh" }, { "If-Match": '"2"' });
    expect(fresh.status).toBe(200);
  });

  it("a username of then that someone else holds now: 409 with details.username, nothing appended", async () => {
    const user = await createUser(admin.token);
    await correct(user.id, { username: uniqueName("moved") });
    // Someone else takes the name the user had then.
    await createUser(admin.token, { username: user.username });
    const res = await revert(user.id, { to_revision: 1, reason: "taken" });
    expectError(res, 409, { error: "Resource Conflict", details: { username: user.username } });
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_CORRECTED"]);
  });

  it("an email of then that someone else holds now: 409 with details.email", async () => {
    const user = await createUser(admin.token);
    await correct(user.id, { email: `${uniqueName("moved")}@example.com` });
    await createUser(admin.token, { email: user.email });
    const res = await revert(user.id, { to_revision: 1, reason: "taken" });
    expectError(res, 409, { error: "Resource Conflict", details: { email: user.email } });
  });

  it("an erased user: 422 Business Rule Violation", async () => {
    const user = await createUser(admin.token);
    const erased = await call("POST", `/admin/users/${user.id}/erase`, {
      token: admin.token,
      body: { reason: "GDPR" },
    });
    expect(erased.status).toBe(200);
    const res = await revert(user.id, { to_revision: 1, reason: "too late" });
    expectError(res, 422, { error: "Business Rule Violation", details: { rule: "revert_erased", user_id: user.id } });
  });

  it("a point before the user existed: 422 Business Rule Violation", async () => {
    const user = await createUser(admin.token);
    const res = await revert(user.id, { to_timestamp: "2001-01-01T00:00:00Z", reason: "too early" });
    expectError(res, 422, { error: "Business Rule Violation", details: { rule: "revert_before_creation" } });
    const zero = await revert(user.id, { to_revision: 0, reason: "too early" });
    expectError(zero, 422, { details: { rule: "revert_before_creation" } });
  });

  it("neither or both targets, or no reason: 422 Request Validation Error; a bad instant: 400", async () => {
    const user = await createUser(admin.token);
    expectError(await revert(user.id, { reason: "x" }), 422, { error: "Request Validation Error" });
    expectError(await revert(user.id, { to_revision: 1, to_timestamp: "2026-01-01T00:00:00Z", reason: "x" }), 422, {
      error: "Request Validation Error",
    });
    expectError(await revert(user.id, { to_revision: 1 }), 422, { error: "Request Validation Error" });
    expectError(await revert(user.id, { to_timestamp: "yesterday", reason: "x" }), 400, { type: "ContentTypeError" });
  });

  it("admins only: a user reverting itself gets 403; an unknown user 404", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const res = await call("POST", `/v1/users/${user.id}/revert/`, {
      token,
      body: { to_revision: 1, reason: "me" },
    });
    expectError(res, 403, {});
    expectError(await revert(crypto.randomUUID(), { to_revision: 1, reason: "nobody" }), 404, {});
  });

  it("?dry_run=true previews the events with their data and appends nothing; the ETag is the revision now", async () => {
    const user = await createUser(admin.token);
    await correct(user.id, { first_name: "Changed" });
    const res = await revert(user.id, { to_revision: 1, reason: "preview" }, {}, "?dry_run=true");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      revision: 2,
      events: ["USER_CORRECTED"],
      dry_run: true,
      preview: [{ event_type: "USER_CORRECTED", data: { first_name: expect.any(String), reason: "preview" } }],
      conflicts: [],
    });
    expect(res.headers.get("ETag")).toBe('"2"');
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_CORRECTED"]);
  });

  it("?dry_run=true names then's username that someone else holds now, and refuses as the revert would", async () => {
    const user = await createUser(admin.token);
    await correct(user.id, { username: uniqueName("moved") });
    await createUser(admin.token, { username: user.username });
    const res = await revert(user.id, { to_revision: 1, reason: "preview" }, {}, "?dry_run=true");
    expect(res.status).toBe(200);
    expect(res.body.conflicts).toEqual([{ field: "username", value: user.username }]);
    const early = await revert(user.id, { to_revision: 0, reason: "preview" }, {}, "?dry_run=true");
    expectError(early, 422, { details: { rule: "revert_before_creation" } });
  });
});
