import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { adminSession, call, createUser } from "../support/api";

/**
 * A replay that reaches the row before the live projector applies USER_CREATED makes the projector
 * see USER_CREATED as a duplicate; the welcome must still go out once ("not re-sent", not "never").
 */
describe("a replay right after a create", () => {
  it("still lets the welcome mail be sent once", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token);
    const replay = await call("POST", `/admin/users/${user.id}/replay`, { token: admin.token });
    expect(replay.status).toBe(200);
    await new Promise((r) => setTimeout(r, 2000));
    const row = await env.DB.prepare("SELECT revision FROM users WHERE id = ?").bind(user.id).first();
    expect(row).not.toBeNull();
    const mail = await env.DB.prepare("SELECT recipient FROM sent_emails WHERE user_id = ?").bind(user.id).first();
    console.log("welcome mail row after create+replay:", JSON.stringify(mail));
    expect(mail).not.toBeNull();
  });
});
