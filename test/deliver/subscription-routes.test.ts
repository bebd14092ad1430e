import { beforeAll, describe, expect, it } from "vitest";
import { checkWebhookUrl } from "../../src/deliver/url-safety";
import { webhookType } from "../../src/deliver/webhook-sink";
import { adminSession, call, createUser, login } from "../support/api";
import { RECEIVER_PORT } from "../support/receiver-port";

const url = `http://127.0.0.1:${RECEIVER_PORT}/hook/routes`;
const missing = "00000000-0000-4000-8000-000000000000";
let token: string;

beforeAll(async () => {
  token = (await adminSession()).token;
});

describe("webhook URL safety", () => {
  it.each([
    "http://example.com/hook",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://127.0.0.1/",
    "https://2130706433/",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/",
    "https://[fc00::1]/",
    "https://[fe80::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://metadata.google.internal/",
    "https://localhost/",
    "https://user:pass@example.com/",
    "ftp://example.com/",
    "not a url",
  ])("refuses %s", (text) => {
    expect(checkWebhookUrl(text, []).ok).toBe(false);
  });

  it("accepts public https, and plain http to the configured insecure hosts", () => {
    expect(checkWebhookUrl("https://hooks.example.com/x", [])).toEqual({
      ok: true,
      url: "https://hooks.example.com/x",
    });
    expect(checkWebhookUrl("https://[2001:db8::1]/", []).ok).toBe(true);
    expect(checkWebhookUrl("http://127.0.0.1:8080/x", ["127.0.0.1"]).ok).toBe(true);
  });

  it("names user events user.* and passes ops alerts through", () => {
    expect(webhookType("USER_CREATED")).toBe("user.created");
    expect(webhookType("PASSWORD_CHANGED")).toBe("user.password_changed");
    expect(webhookType("ops.dead_letter")).toBe("ops.dead_letter");
  });
});

describe("/admin/subscriptions", () => {
  it("creates, lists, gets, patches, rotates, replays and deletes", async () => {
    const created = await call<{ id: string; secret: string; status: string; event_types: string[] }>(
      "POST",
      "/admin/subscriptions",
      { token, body: { url, event_types: ["USER_CREATED"], description: "routes" } },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: "active", event_types: ["USER_CREATED"] });
    expect(atob(created.body.secret.slice(6)).length).toBeGreaterThanOrEqual(24);
    const { id } = created.body;
    const listed = await call<{ results: { id: string; secret?: string }[] }>("GET", "/admin/subscriptions", { token });
    expect(listed.body.results.map((s) => s.id)).toContain(id);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    const got = await call<Record<string, unknown>>("GET", `/admin/subscriptions/${id}`, { token });
    expect(got.body).toMatchObject({ id, lag: { events_behind: 0 }, last_delivery: null, failing_since: null });
    expect(got.body.secret).toBeUndefined();
    const paused = await call<{ status: string }>("PATCH", `/admin/subscriptions/${id}`, {
      token,
      body: { status: "paused" },
    });
    expect(paused.body.status).toBe("paused");
    const rotated = await call<{ secret: string }>("POST", `/admin/subscriptions/${id}/rotate-secret`, { token });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    const replayed = await call<{ position: number }>("POST", `/admin/subscriptions/${id}/replay`, {
      token,
      body: { from_position: 0 },
    });
    expect(replayed.status).toBe(200);
    expect((await call("GET", `/admin/subscriptions/${id}/deliveries?state=dead`, { token })).status).toBe(200);
    expect((await call("DELETE", `/admin/subscriptions/${id}`, { token })).status).toBe(204);
    expect((await call("GET", `/admin/subscriptions/${id}`, { token })).status).toBe(404);
    expect((await call("DELETE", `/admin/subscriptions/${id}`, { token })).status).toBe(404);
  });

  it.each([
    ["an https URL to a private address", { url: "https://10.1.2.3/hook" }],
    ["plain http to a public host", { url: "http://example.com/hook" }],
    ["credentials in the URL", { url: "https://a:b@example.com/hook" }],
    ["a metadata host", { url: "https://169.254.169.254/" }],
    ["an unknown event type", { url, event_types: ["USER_EXPLODED"] }],
    ["a negative position", { url, from_position: -1 }],
    ["an unknown field", { url, secret: "mine" }],
    ["no URL", {}],
  ])("refuses %s with 422", async (_name, body) => {
    const res = await call<{ type: string }>("POST", "/admin/subscriptions", { token, body });
    expect(res.status).toBe(422);
    expect(res.body.type).toBe("RequestValidationError");
  });

  it("answers 404 for an unknown id, 400 for a malformed one, 422 for bad bodies and queries", async () => {
    for (const [method, path] of [
      ["GET", `/admin/subscriptions/${missing}`],
      ["DELETE", `/admin/subscriptions/${missing}`],
      ["POST", `/admin/subscriptions/${missing}/rotate-secret`],
      ["GET", `/admin/subscriptions/${missing}/deliveries`],
      ["POST", `/admin/subscriptions/${missing}/deliveries/${missing}/redeliver`],
    ] as const)
      expect((await call(method, path, { token })).status, `${method} ${path}`).toBe(404);
    expect((await call("PATCH", `/admin/subscriptions/${missing}`, { token, body: { status: "paused" } })).status).toBe(
      404,
    );
    expect((await call("GET", "/admin/subscriptions/mail", { token })).status).toBe(400);
    expect((await call("GET", "/admin/subscriptions/not-a-uuid", { token })).status).toBe(400);
    const { body } = await call<{ id: string }>("POST", "/admin/subscriptions", { token, body: { url } });
    const id = body.id;
    for (const patch of [{ status: "disabled" }, { url: "https://192.168.0.1/" }, { event_types: ["nope"] }])
      expect((await call("PATCH", `/admin/subscriptions/${id}`, { token, body: patch })).status).toBe(422);
    expect(
      (await call("POST", `/admin/subscriptions/${id}/replay`, { token, body: { from_position: -5 } })).status,
    ).toBe(422);
    expect((await call("GET", `/admin/subscriptions/${id}/deliveries?state=lost`, { token })).status).toBe(422);
    expect((await call("POST", `/admin/subscriptions/${id}/deliveries/${missing}/redeliver`, { token })).status).toBe(
      404,
    );
  });

  it("is for admins only", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token);
    const userToken = await login(user.username);
    expect((await call("GET", "/admin/subscriptions")).status).toBe(401);
    expect((await call("GET", "/admin/subscriptions", { token: userToken })).status).toBe(403);
    expect((await call("POST", "/admin/subscriptions", { token: userToken, body: { url } })).status).toBe(403);
  });
});
