import { beforeAll, describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser, login } from "../support/api";
import type { projectionStatus } from "../../src/read/projection-status";
import type { UserView } from "../support/types";

type ProjectionStatus = Awaited<ReturnType<typeof projectionStatus>>;

let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

describe("read-your-writes", () => {
  it("a revision the stream never reached: 422 at once (waiting cannot bring it), naming the stream's revision", async () => {
    const user = await createUser(admin);
    const res = await call("GET", `/v1/users/${user.id}/?min_revision=${user.revision + 5}`, { token: admin });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({
      error: "Validation Error",
      details: { field: "min_revision", current_revision: user.revision },
    });

    // The revision that exists is served.
    const ok = await call<{ user: UserView }>("GET", `/v1/users/${user.id}/?min_revision=${user.revision}`, {
      token: admin,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.user).toMatchObject({ id: user.id, revision: user.revision });
  }, 15_000);

  it("a read waiting for a revision is answered once the real queue's projection commits it", async () => {
    const user = await createUser(admin);
    const put = await call<{ revision: number }>("PUT", `/v1/users/${user.id}/`, {
      token: admin,
      body: { first_name: "Waited" },
    });
    expect(put.status).toBe(200);
    const res = await call<{ user: UserView }>("GET", `/v1/users/${user.id}/?min_revision=${put.body.revision}`, {
      token: admin,
    });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ first_name: "Waited", revision: put.body.revision });
  }, 15_000);

  it("min_revision must be a positive integer", async () => {
    const user = await createUser(admin);
    for (const bad of ["0", "-1", "abc", "1.5"]) {
      const res = await call("GET", `/v1/users/${user.id}/?min_revision=${bad}`, { token: admin });
      expect(res.status, bad).toBe(422);
    }
  });

  it("an unknown user is 404", async () => {
    const missing = crypto.randomUUID();
    expect((await call("GET", `/v1/users/${missing}/`, { token: admin })).status).toBe(404);
  });
});

describe("GET /admin/projections/status", () => {
  it("reports nothing behind and an empty outbox once everything is projected", async () => {
    const users = await Promise.all(Array.from({ length: 5 }, () => createUser(admin)));
    const last = users[users.length - 1]!;
    await call("PUT", `/v1/users/${last.id}/`, { token: admin, body: { first_name: "Changed" } });

    let status: ProjectionStatus | undefined;
    await vi.waitUntil(
      async () => {
        const res = await call<ProjectionStatus>("GET", "/admin/projections/status", { token: admin });
        expect(res.status).toBe(200);
        status = res.body;
        return status.users_behind === 0 && status.outbox.backlog === 0;
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(status).toMatchObject({ users_behind: 0, outbox: { backlog: 0, oldest_age_ms: null }, dead_letters: 0 });
    // Every projection has caught up, and says what it projected last.
    for (const projection of status!.projections) {
      expect(projection).toMatchObject({ users_behind: 0, oldest_owed_age_ms: null, dead_letters_open: 0 });
      expect(projection.last_projected).not.toBeNull();
    }
    expect(status!.projections.map((p) => p.name)).toEqual(["users", "audit", "intervals", "feed"]);
    for (const user of users) {
      const res = await call("GET", `/v1/users/${user.id}/`, { token: admin });
      expect(res.status).toBe(200);
    }
    expect((await call<{ user: UserView }>("GET", `/v1/users/${last.id}/`, { token: admin })).body.user).toMatchObject({
      first_name: "Changed",
      revision: 2,
    });
  });

  it("needs an admin", async () => {
    const user = await createUser(admin);
    expect((await call("GET", "/admin/projections/status")).status).toBe(401);
    const token = await login(user.username);
    expect((await call("GET", "/admin/projections/status", { token })).status).toBe(403);
  });
});
