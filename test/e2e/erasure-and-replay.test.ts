import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { adminSession, call, createUser } from "../support/api";

async function row(userId: string) {
  return env.DB.prepare("SELECT revision, status, email FROM users WHERE id = ?")
    .bind(userId)
    .first<{ revision: number; status: string; email: string }>();
}
async function mail(userId: string) {
  return env.DB.prepare("SELECT recipient, body FROM sent_emails WHERE user_id = ?")
    .bind(userId)
    .first<{ recipient: string; body: string }>();
}

/**
 * A replay (or a full rebuild) may move the row to the tombstone before the consumer sees
 * USER_ERASED, which it then skips as a duplicate: the clean-up of mail records and dead letters
 * must follow from the row being erased, not from applying the event itself.
 */
describe("an erasure and a replay racing it", () => {
  it("an erasure alone blanks the mail record", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token, { first_name: "Secretname" });
    await vi.waitUntil(async () => (await mail(user.id)) !== null, { timeout: 10_000, interval: 20 });
    const erase = await call("POST", `/admin/users/${user.id}/erase`, { token: admin.token, body: { reason: "gdpr" } });
    expect(erase.status).toBe(200);
    await vi.waitUntil(async () => (await mail(user.id))?.recipient === "[erased]", { timeout: 10_000, interval: 20 });
  });

  it("an erasure followed at once by a replay still blanks the mail record", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token, { first_name: "Secretname" });
    await vi.waitUntil(async () => (await mail(user.id)) !== null && (await row(user.id)) !== null, {
      timeout: 10_000,
      interval: 20,
    });
    const erase = await call("POST", `/admin/users/${user.id}/erase`, { token: admin.token, body: { reason: "gdpr" } });
    expect(erase.status).toBe(200);
    const replay = await call("POST", `/admin/users/${user.id}/replay`, { token: admin.token });
    expect(replay.status).toBe(200);
    // Give the live projector ample time to deliver USER_ERASED.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await row(user.id))?.status).toBe("erased");
    const m = await mail(user.id);
    console.log("sent_emails after erase+replay:", JSON.stringify(m));
    expect(m?.recipient).toBe("[erased]");
    expect(m?.body).not.toContain("Secretname");
  });
});
