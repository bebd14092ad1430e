import { beforeAll, describe, expect, it } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import { type CommandBody, type ListBody, type UserBody, eventTypes, expectError, streamOf } from "./helpers";
import { newUserBody } from "../support/builders";

let admin: { id: string; token: string; username: string };

beforeAll(async () => {
  admin = await adminSession();
});

describe("Idempotency-Key on POST /v1/users/", () => {
  it("10 retries with the same key and body: one user, the same body, Idempotent-Replayed on retries", async () => {
    const key = crypto.randomUUID();
    const body = newUserBody();
    const responses = [];
    for (let i = 0; i < 10; i++) {
      responses.push(
        await call<CommandBody>("POST", "/v1/users/", {
          token: admin.token,
          body,
          headers: { "Idempotency-Key": key },
        }),
      );
    }
    const [first, ...retries] = responses;
    expect(first?.status).toBe(200);
    expect(first?.body).toMatchObject({ message: "User created successfully", revision: 1 });
    expect(first?.headers.get("Idempotent-Replayed")).toBeNull();
    expect(first?.headers.get("ETag")).toBe('"1"');
    for (const retry of retries) {
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first?.body);
      expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
      expect(retry.headers.get("ETag")).toBe('"1"');
    }

    const id = first?.body.user_id ?? "";
    const events = await streamOf(id);
    expect(events.map((e) => e.event_type)).toEqual(["USER_CREATED"]);
    expect(events[0]?.metadata.idempotency_key).toBe(key);

    // Exactly one user under that name in the read model too.
    expect((await call("GET", `/v1/users/${id}/?min_revision=1`, { token: admin.token })).status).toBe(200);
    const list = await call<ListBody>("GET", `/v1/users/?username=${body.username}`, { token: admin.token });
    expect(list.body.count).toBe(1);
    expect(list.body.results.map((u) => u.id)).toEqual([id]);
  });

  it("concurrent retries with one key (a client retrying while the first is in flight): one user", async () => {
    const key = crypto.randomUUID();
    const body = newUserBody();
    const responses = await Promise.all(
      Array.from({ length: 5 }, () =>
        call<CommandBody>("POST", "/v1/users/", { token: admin.token, body, headers: { "Idempotency-Key": key } }),
      ),
    );
    for (const res of responses) expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ids = new Set(responses.map((r) => r.body.user_id));
    expect(ids.size).toBe(1);
    expect(responses.filter((r) => r.headers.get("Idempotent-Replayed") === "true")).toHaveLength(4);
    expect(await eventTypes([...ids][0] ?? "")).toEqual(["USER_CREATED"]);
  });

  it("the same key with another body: 422, nothing appended, nothing created", async () => {
    const key = crypto.randomUUID();
    const body = newUserBody();
    const first = await call<CommandBody>("POST", "/v1/users/", {
      token: admin.token,
      body,
      headers: { "Idempotency-Key": key },
    });
    expect(first.status).toBe(200);
    const other = newUserBody();
    const res = await call("POST", "/v1/users/", {
      token: admin.token,
      body: other,
      headers: { "Idempotency-Key": key },
    });
    expectError(res, 422, {
      error: "Validation Error",
      message: "This Idempotency-Key was already used with a different request",
      type: "IdempotencyKeyReused",
      details: { field: "Idempotency-Key" },
    });
    expect(await eventTypes(first.body.user_id ?? "")).toEqual(["USER_CREATED"]);
    // The other body's username was never claimed.
    expect((await call("POST", "/v1/users/", { token: admin.token, body: other })).status).toBe(200);
  });

  it("a changed field order is the same body (replayed), a changed value is not", async () => {
    const key = crypto.randomUUID();
    const body = newUserBody();
    const first = await call<CommandBody>("POST", "/v1/users/", {
      token: admin.token,
      body,
      headers: { "Idempotency-Key": key },
    });
    const reordered = {
      password: body.password,
      last_name: body.last_name,
      first_name: body.first_name,
      email: body.email,
      username: body.username,
    };
    const replay = await call<CommandBody>("POST", "/v1/users", {
      token: admin.token,
      body: reordered,
      headers: { "Idempotency-Key": key },
    });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    const changed = await call("POST", "/v1/users/", {
      token: admin.token,
      body: { ...body, password: "different-pass-1" },
      headers: { "Idempotency-Key": key },
    });
    expectError(changed, 422, { type: "IdempotencyKeyReused" });
  });

  it("without a key, the same body twice is a conflict, not a replay", async () => {
    const body = newUserBody();
    expect((await call("POST", "/v1/users/", { token: admin.token, body })).status).toBe(200);
    const again = await call("POST", "/v1/users/", { token: admin.token, body });
    expectError(again, 409, { error: "Resource Conflict" });
    expect(again.headers.get("Idempotent-Replayed")).toBeNull();
  });
});

describe("Idempotency-Key on PUT", () => {
  it("a retried update is appended once and replayed", async () => {
    const user = await createUser(admin.token);
    const token = await login(user.username);
    const key = crypto.randomUUID();
    const send = () =>
      call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
        token,
        body: { first_name: "Once" },
        headers: { "Idempotency-Key": key },
      });
    const first = await send();
    const second = await send();
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED"]);
  });

  it("a retry of a successful If-Match update is replayed, not refused as stale", async () => {
    const user = await createUser(admin.token);
    const key = crypto.randomUUID();
    const send = () =>
      call<CommandBody>("PUT", `/v1/users/${user.id}/`, {
        token: admin.token,
        body: { last_name: "Guarded" },
        headers: { "Idempotency-Key": key, "If-Match": '"1"' },
      });
    const first = await send();
    const retry = await send();
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ message: "User updated successfully", revision: 2 });
    expect(retry.headers.get("ETag")).toBe('"2"');
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_UPDATED"]);
    const read = await call<{ user: UserBody }>("GET", `/v1/users/${user.id}/?consistency=strong`, {
      token: admin.token,
    });
    expect(read.body.user.revision).toBe(2);
  });

  it("a retried delete is replayed, not answered 'already deleted'", async () => {
    const user = await createUser(admin.token);
    const key = crypto.randomUUID();
    const send = () =>
      call<CommandBody>("DELETE", `/v1/users/${user.id}/`, {
        token: admin.token,
        body: { reason: "x" },
        headers: { "Idempotency-Key": key },
      });
    const first = await send();
    const retry = await send();
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await eventTypes(user.id)).toEqual(["USER_CREATED", "USER_DELETED"]);
  });
});
