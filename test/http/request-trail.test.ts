import { beforeAll, describe, expect, it, vi } from "vitest";
import type { RequestTrail } from "../../src/admin/request-schemas";
import { adminSession, call, createUser, tokenWithoutLogin } from "../support/api";
import { newUserBody } from "../support/builders";
import { expectError, type CommandBody } from "./helpers";

let admin: string;
beforeAll(async () => {
  ({ token: admin } = await adminSession());
});

/** The trail once the audit log holds the request's events (the real queue projects them). */
async function trailOnce(requestId: string, events: number): Promise<RequestTrail> {
  let trail: RequestTrail | null = null;
  await vi.waitUntil(
    async () => {
      const res = await call<RequestTrail>("GET", `/admin/requests/${requestId}`, { token: admin });
      if (res.status === 200 && res.body.events.length >= events) trail = res.body;
      return trail !== null;
    },
    { timeout: 10_000, interval: 50 },
  );
  return trail!;
}

describe("GET /admin/requests/{request_id}", () => {
  it("lists the events a request caused, with the request's metadata and each projection", async () => {
    const requestId = `trail-${crypto.randomUUID()}`;
    const body = newUserBody();
    const created = await call<CommandBody>("POST", "/v1/users/", {
      token: admin,
      body,
      headers: { "X-Request-Id": requestId },
    });
    expect(created.status).toBe(200);
    const userId = created.body.user_id!;

    const trail = await trailOnce(requestId, 1);
    expect(trail).toMatchObject({
      request_id: requestId,
      truncated: false,
      subscriptions: { checked: expect.any(Number), truncated: expect.any(Boolean) },
    });
    expect(trail.events).toEqual([
      expect.objectContaining({
        user_id: userId,
        event_type: "USER_CREATED",
        revision: 1,
        username: body.username,
        email: body.email,
        import_request_id: null,
        projections: expect.arrayContaining([
          expect.objectContaining({ name: "users", state: expect.stringMatching(/^(applied|pending)$/) }),
          expect.objectContaining({ name: "audit", state: "applied" }),
        ]),
      }),
    ]);
    // The public event's data: never a secret.
    expect(JSON.stringify(trail)).not.toContain("password");
    expect(Array.isArray(trail.mail)).toBe(true);
    expect(Array.isArray(trail.deliveries)).toBe(true);
  });

  it("keeps another request's events out", async () => {
    const user = await createUser(admin);
    const token = await tokenWithoutLogin(user.id);
    const mine = `trail-${crypto.randomUUID()}`;
    for (const [requestId, name] of [
      [mine, "Mine"],
      [`trail-${crypto.randomUUID()}`, "Other"],
    ] as const) {
      const res = await call("PUT", `/v1/users/${user.id}/`, {
        token,
        body: { first_name: name },
        headers: { "X-Request-Id": requestId },
      });
      expect(res.status).toBe(200);
    }
    const trail = await trailOnce(mine, 1);
    expect(trail.events.map((e) => [e.event_type, e.revision])).toEqual([["USER_UPDATED", 2]]);
  });

  it("answers 404 in the envelope for a request id that caused nothing", async () => {
    const res = await call("GET", `/admin/requests/nothing-${crypto.randomUUID()}`, { token: admin });
    expectError(res, 404, { error: "HTTP Error", type: "HTTPException" });
  });

  it("answers 422 for a request id no request can carry", async () => {
    for (const bad of ["has%20space", "x".repeat(129), "%3Cscript%3E"]) {
      const res = await call("GET", `/admin/requests/${bad}`, { token: admin });
      expectError(res, 422, { error: "Request Validation Error" });
    }
  });

  it("is for admins only", async () => {
    expectError(await call("GET", "/admin/requests/some-request"), 401, {});
    const user = await createUser(admin);
    const res = await call("GET", "/admin/requests/some-request", { token: await tokenWithoutLogin(user.id) });
    expectError(res, 403, {});
  });
});
