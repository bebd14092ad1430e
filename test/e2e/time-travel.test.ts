import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { publicUser, type PublicUser } from "../../src/domain/user";
import { stateFromExport } from "../domain/from-export";
import { adminSession, call, createUser, login, tokenWithoutLogin } from "../support/api";
import type { EventsPageBody as EventsPage, ErrorBody, CommandBody as CommandResponse } from "../support/types";
import { PASSWORD, uniqueName } from "../support/builders";

/**
 * Time travel and the audit trail, through HTTP: `GET /v1/users/{id}/history/` folds the user's
 * stream up to a revision or an instant; `GET /v1/users/{id}/events/` is the stream itself, paged,
 * with who did what, when and why.
 */

const NEW_PASSWORD = "battery-staple-9";

let admin: { id: string; token: string; username: string };
beforeAll(async () => {
  admin = await adminSession();
});

async function history(userId: string, query: string, token = admin.token) {
  return call<PublicUser>("GET", `/v1/users/${userId}/history/?${query}`, { token });
}
async function historyError(userId: string, query: string) {
  return call<ErrorBody>("GET", `/v1/users/${userId}/history/?${query}`, { token: admin.token });
}
async function events(userId: string, query = "", token = admin.token) {
  return call<EventsPage>("GET", `/v1/users/${userId}/events/${query ? `?${query}` : ""}`, { token });
}
async function command(method: string, path: string, token: string, body?: unknown, headers?: Record<string, string>) {
  const res = await call<CommandResponse>(method, path, { token, body, ...(headers ? { headers } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.revision;
}

/** The same instant written with a +05:30 offset (local time in India). */
function withOffset(iso: string): string {
  const shifted = new Date(Date.parse(iso) + (5 * 60 + 30) * 60_000).toISOString();
  return `${shifted.slice(0, -1)}+05:30`;
}

describe("a user's life, looked at afterwards", () => {
  let user: { id: string; username: string; email: string };
  let stream: EventsPage["results"];
  const newEmail = `${uniqueName("moved")}@example.org`;
  const deleteRequestId = `req-delete-${uniqueName("r")}`;
  const deleteKey = crypto.randomUUID();
  const deleteReason = "Closed at the user's request (ticket #4711)";

  /** What history must show at each revision: the user as it was right after that event. */
  let expected: Record<number, Partial<PublicUser>>;

  beforeAll(async () => {
    user = await createUser(admin.token, { first_name: "Ada", last_name: "Byron" });
    const own = await tokenWithoutLogin(user.id);
    const u = `/v1/users/${user.id}`;
    expect(await command("PUT", `${u}/`, own, { first_name: "Augusta" })).toBe(2);
    expect(
      await command("PUT", `${u}/password/`, own, { current_password: PASSWORD, new_password: NEW_PASSWORD }),
    ).toBe(3);
    expect(await command("POST", `${u}/suspend/`, admin.token, { reason: "Chargeback under review" })).toBe(4);
    expect(await command("POST", `${u}/reactivate/`, admin.token, { reason: "Chargeback resolved" })).toBe(5);
    expect(await command("PUT", `${u}/`, admin.token, { last_name: "King", email: newEmail })).toBe(6);
    expect(
      await command(
        "DELETE",
        `${u}/`,
        admin.token,
        { reason: deleteReason },
        { "X-Request-Id": deleteRequestId, "Idempotency-Key": deleteKey },
      ),
    ).toBe(7);

    const page = await events(user.id);
    expect(page.status).toBe(200);
    stream = page.body.results;
    expect(stream.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const t = (revision: number) => stream[revision - 1]!.timestamp;

    const base = {
      id: user.id,
      username: user.username,
      email: user.email,
      first_name: "Ada",
      last_name: "Byron",
      role: "user" as const,
      status: "active" as const,
      created_at: t(1),
      deleted_at: null,
      last_login_at: null,
    };
    expected = {
      1: { ...base, updated_at: t(1), revision: 1 },
      2: { ...base, first_name: "Augusta", updated_at: t(2), revision: 2 },
      3: { ...base, first_name: "Augusta", updated_at: t(3), revision: 3 },
      4: { ...base, first_name: "Augusta", status: "suspended", updated_at: t(4), revision: 4 },
      5: { ...base, first_name: "Augusta", updated_at: t(5), revision: 5 },
      6: { ...base, first_name: "Augusta", last_name: "King", email: newEmail, updated_at: t(6), revision: 6 },
      7: {
        ...base,
        first_name: "Augusta",
        last_name: "King",
        email: newEmail,
        status: "deleted",
        updated_at: t(7),
        deleted_at: t(7),
        revision: 7,
      },
    };
  });

  it("at every revision, history returns the user exactly as it was then", async () => {
    for (let revision = 1; revision <= 7; revision++) {
      const res = await history(user.id, `revision=${revision}`);
      expect(res.status, `revision ${revision}`).toBe(200);
      expect(res.body, `revision ${revision}`).toEqual(expected[revision]);
    }
    // Past the end of the stream: the user as it is now, deleted.
    const later = await history(user.id, "revision=1000");
    expect(later.status).toBe(200);
    expect(later.body).toEqual(expected[7]);
  });

  it("at each event's timestamp, history returns the user as of that instant", async () => {
    // Two events may share a millisecond: at an instant, every event up to it counts.
    const revisionAt = (instant: string) =>
      Math.max(...stream.filter((e) => e.timestamp <= instant).map((e) => e.revision));
    for (const event of stream) {
      const res = await history(user.id, `timestamp=${encodeURIComponent(event.timestamp)}`);
      expect(res.status, event.timestamp).toBe(200);
      expect(res.body).toEqual(expected[revisionAt(event.timestamp)]);
      expect(res.body.revision).toBeGreaterThanOrEqual(event.revision);
    }
    // Just before the suspension (when it has a millisecond of its own), the user was still active.
    const suspension = stream[3]!;
    const before = new Date(Date.parse(suspension.timestamp) - 1).toISOString();
    if (stream[2]!.timestamp <= before) {
      const res = await history(user.id, `timestamp=${encodeURIComponent(before)}`);
      expect(res.body).toEqual(expected[revisionAt(before)]);
      expect(res.body.status).toBe("active");
    }
    // Long after the deletion: deleted, with the time it happened.
    const now = await history(user.id, "timestamp=2999-01-01T00:00:00Z");
    expect(now.body).toMatchObject({ status: "deleted", deleted_at: stream[6]!.timestamp, revision: 7 });
  });

  it("a timestamp without a zone is UTC, and an offset is honoured", async () => {
    for (const event of [stream[0]!, stream[3]!, stream[5]!]) {
      const zoned = await history(user.id, `timestamp=${encodeURIComponent(event.timestamp)}`);
      const naive = await history(user.id, `timestamp=${encodeURIComponent(event.timestamp.replace(/Z$/, ""))}`);
      const offset = await history(user.id, `timestamp=${encodeURIComponent(withOffset(event.timestamp))}`);
      expect(naive.status).toBe(200);
      expect(offset.status).toBe(200);
      expect(naive.body).toEqual(zoned.body);
      expect(offset.body).toEqual(zoned.body);
    }
  });

  it("before the user was created, or for a user that never existed, history is 404", async () => {
    const created = stream[0]!.timestamp;
    const justBefore = new Date(Date.parse(created) - 1).toISOString();
    for (const query of [
      `timestamp=${encodeURIComponent(justBefore)}`,
      "timestamp=2000-01-01T00:00:00",
      "timestamp=1999-12-31T23:59:59Z",
    ]) {
      const res = await historyError(user.id, query);
      expect(res.status, query).toBe(404);
      expect(res.body).toMatchObject({ error: "HTTP Error", type: "HTTPException" });
    }
    expect((await historyError(crypto.randomUUID(), "revision=1")).status).toBe(404);
    expect((await historyError(crypto.randomUUID(), "timestamp=2026-01-01T00:00:00Z")).status).toBe(404);
  });

  it("a malformed timestamp is 400; no timestamp and no revision is 422", async () => {
    for (const bad of [
      "yesterday",
      "2026-13-01T00:00:00Z",
      "2026-01-01T25:00:00",
      "12/24/2026",
      "2026-01-01T00:00:00+99:99",
    ]) {
      const res = await historyError(user.id, `timestamp=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(res.body).toMatchObject({ error: "Bad Request" });
    }
    const neither = await historyError(user.id, "");
    expect(neither.status).toBe(422);
    expect(neither.body).toMatchObject({ error: "Request Validation Error", type: "RequestValidationError" });
    for (const bad of ["revision=0", "revision=-1", "revision=two"]) {
      expect((await historyError(user.id, bad)).status, bad).toBe(422);
    }
  });

  it("the events answer who deleted the user, when and why", async () => {
    const deleted = stream[6]!;
    expect(deleted).toMatchObject({
      aggregate_id: user.id,
      event_type: "USER_DELETED",
      version: 2,
      revision: 7,
      data: { reason: deleteReason },
      metadata: {
        actor_id: admin.id,
        actor_username: admin.username,
        reason: deleteReason,
        request_id: deleteRequestId,
        idempotency_key: deleteKey,
      },
    });
    // When: the event's time is the deleted_at of the user as history shows it.
    expect(deleted.timestamp).toBe(expected[7]!.deleted_at);
    // The user's own change is attributed to the user, the suspension to the admin with its reason.
    expect(stream[1]!.metadata).toMatchObject({ actor_id: user.id, actor_username: user.username, reason: null });
    expect(stream[3]!).toMatchObject({
      event_type: "USER_SUSPENDED",
      metadata: { actor_id: admin.id, reason: "Chargeback under review" },
    });
    expect(stream.map((e) => e.event_type)).toEqual([
      "USER_CREATED",
      "USER_UPDATED",
      "PASSWORD_CHANGED",
      "USER_SUSPENDED",
      "USER_REACTIVATED",
      "USER_UPDATED",
      "USER_DELETED",
    ]);
    expect(new Set(stream.map((e) => e.id)).size).toBe(7);
  });

  it("the events are paged with limit and next_revision, oldest first", async () => {
    const first = await events(user.id, "limit=3");
    expect(first.body.results.map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(first.body.next_revision).toBe(4);
    const second = await events(user.id, `from_revision=${first.body.next_revision}&limit=3`);
    expect(second.body.results.map((e) => e.revision)).toEqual([4, 5, 6]);
    expect(second.body.next_revision).toBe(7);
    const last = await events(user.id, `from_revision=${second.body.next_revision}&limit=3`);
    expect(last.body.results.map((e) => e.revision)).toEqual([7]);
    expect(last.body.next_revision).toBeNull();
    expect([...first.body.results, ...second.body.results, ...last.body.results]).toEqual(stream);

    expect((await events(user.id, "limit=0")).status).toBe(422);
    expect((await events(user.id, "limit=501")).status).toBe(422);
    expect((await events(user.id, "from_revision=0")).status).toBe(422);
    expect(await events(user.id, "from_revision=8")).toMatchObject({
      status: 200,
      body: { results: [], next_revision: null },
    });
  });

  it("no password, and no hash of one, in the events or the history", async () => {
    const everything = JSON.stringify([
      stream,
      ...(await Promise.all([1, 3, 7].map((r) => history(user.id, `revision=${r}`)))).map((r) => r.body),
    ]);
    expect(everything).not.toMatch(/password_hash|pbkdf2-sha256\$/);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(NEW_PASSWORD);
    expect(stream[2]).toMatchObject({ event_type: "PASSWORD_CHANGED", data: { hashing_method: "pbkdf2-sha256" } });
    expect(Object.keys(stream[2]!.data)).toEqual(["hashing_method"]);
  });
});

describe("who may read the audit trail", () => {
  it("the user itself and admins, not another user", async () => {
    const owner = await createUser(admin.token);
    const other = await createUser(admin.token);
    const ownerToken = await login(owner.username);
    const otherToken = await login(other.username);
    await command("PUT", `/v1/users/${owner.id}/`, ownerToken, { first_name: "Mine" });

    const own = await events(owner.id, "", ownerToken);
    expect(own.status).toBe(200);
    expect(own.body.results.map((e) => e.event_type)).toEqual(["USER_CREATED", "USER_LOGGED_IN", "USER_UPDATED"]);
    const byAdmin = await events(owner.id);
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body).toEqual(own.body);

    const byOther = await call<ErrorBody>("GET", `/v1/users/${owner.id}/events/`, { token: otherToken });
    expect(byOther.status).toBe(403);
    expect(byOther.body).toMatchObject({ error: "HTTP Error", type: "HTTPException" });
    expect(JSON.stringify(byOther.body)).not.toContain(owner.username);
    expect((await call("GET", `/v1/users/${owner.id}/events/`)).status).toBe(401);
  });

  it("history shows the true role: an admin's own history says admin", async () => {
    const res = await history(admin.id, "revision=1");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: admin.id,
      username: admin.username,
      role: "admin",
      status: "active",
      revision: 1,
    });
  });
});

describe("the export of a stream", () => {
  async function exportOf(userId: string, token = admin.token) {
    const res = await exports.default.fetch(`http://localhost/admin/users/${userId}/stream`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    // NDJSON is UTF-8 text; decoded explicitly (`.text()` warns on a non-text content type).
    return {
      status: res.status,
      contentType: res.headers.get("Content-Type"),
      text: new TextDecoder().decode(await res.arrayBuffer()),
    };
  }

  it("folds, through the test helper, to the user the strong read returns", async () => {
    const user = await createUser(admin.token, { first_name: "Export", last_name: "Me" });
    const own = await tokenWithoutLogin(user.id);
    const u = `/v1/users/${user.id}`;
    await command("PUT", `${u}/`, own, { first_name: "Exported", email: `${uniqueName("exp")}@example.net` });
    await command("PUT", `${u}/password/`, own, { current_password: PASSWORD, new_password: NEW_PASSWORD });
    await command("POST", `${u}/suspend/`, admin.token, { reason: "check" });
    await command("POST", `${u}/reactivate/`, admin.token, { reason: "checked" });
    const last = await command("POST", `/admin/users/${user.id}/corrections`, admin.token, {
      changes: { last_name: "Corrected" },
      reason: "typo",
    });

    const exported = await exportOf(user.id);
    expect(exported.status).toBe(200);
    expect(exported.contentType).toContain("application/x-ndjson");
    expect(exported.text.trimEnd().split("\n")).toHaveLength(last);
    expect(exported.text).not.toMatch(/password_hash|pbkdf2-sha256\$/);

    const strong = await call<{ user: PublicUser }>("GET", `${u}/?consistency=strong`, { token: admin.token });
    expect(strong.status).toBe(200);
    const folded = stateFromExport(exported.text);
    expect(folded.user).not.toBeNull();
    expect(publicUser(folded.user!, folded.revision)).toEqual(strong.body.user);
    expect(strong.body.user).toMatchObject({
      first_name: "Exported",
      last_name: "Corrected",
      status: "active",
      revision: last,
    });
  });

  it("is for admins only", async () => {
    const user = await createUser(admin.token);
    const res = await exportOf(user.id, await login(user.username));
    expect(res.status).toBe(403);
    expect(res.text).not.toContain("USER_CREATED");
  });
});
