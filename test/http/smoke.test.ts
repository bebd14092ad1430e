import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("smoke", () => {
  it("is up", async () => {
    const res = await exports.default.fetch("http://x/ht/");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "UP" });
  });
  it("bootstraps an admin, logs in, creates and reads back", async () => {
    const admin = {
      username: "root",
      email: "root@example.com",
      first_name: "R",
      last_name: "T",
      password: "password-1",
    };
    const boot = await exports.default.fetch("http://x/admin/bootstrap/admins", {
      method: "POST",
      headers: { Authorization: `Bearer ${env.ADMIN_BOOTSTRAP_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(admin),
    });
    expect(boot.status, await boot.clone().text()).toBe(200);
    const login = await exports.default.fetch("http://x/v1/auth/login/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "root", password: "password-1" }),
    });
    const { access_token } = (await login.json()) as { access_token: string };
    const auth = { Authorization: `Bearer ${access_token}`, "Content-Type": "application/json" };
    const created = await exports.default.fetch("http://x/v1/users/", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        username: "alice",
        email: "Alice@Example.COM",
        first_name: "A",
        last_name: "L",
        password: "password-2",
      }),
    });
    const body = (await created.json()) as { user_id: string; revision: number };
    expect(created.status, JSON.stringify(body)).toBe(200);
    const read = await exports.default.fetch(`http://x/v1/users/${body.user_id}?consistency=strong`, { headers: auth });
    expect(await read.json()).toMatchObject({ user: { username: "alice", email: "Alice@example.com", revision: 1 } });
    const eventual = await exports.default.fetch(`http://x/v1/users/${body.user_id}/?min_revision=1`, {
      headers: auth,
    });
    expect(eventual.status).toBe(200);
  });
});
