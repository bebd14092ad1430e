import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ERASED } from "../../src/domain/events";
import { projectBatch } from "../../src/read/consumer";
import { fakeMessage, mailSpy, userCreated, userEvent } from "../read/fixtures";

/**
 * Two consumer invocations for one new user: A holds USER_CREATED (real data, sent before the
 * erasure), B holds the erased stream [USER_CREATED as "[erased]", USER_ERASED]. A plans on "no
 * row", B commits first, then A commits. A's row insert is a no-op (guarded), but its welcome insert
 * must not land: the erased user's address must not reach sent_emails, nor the mail go out.
 */
describe("a late create racing a projected erasure", () => {
  it("sends no welcome mail and stores no address for the erased user", async () => {
    const userId = crypto.randomUUID();
    const created = userCreated(userId);

    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const real = env.DB;
    const gatedDb = new Proxy(real, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            await gate;
            return target.batch(statements);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });

    // A: plans on an empty row and waits at its D1 batch.
    const mailA = mailSpy();
    const a = projectBatch([fakeMessage(created)], { ...env, DB: gatedDb } as Env, mailA);
    await new Promise((r) => setTimeout(r, 50));

    // B: the erased stream, projected and committed first.
    const erasedCreated = {
      ...created,
      data: { ...created.data, username: ERASED, email: ERASED, first_name: ERASED, last_name: ERASED },
    };
    const erasedEvent = userEvent(userId, 2, "USER_ERASED");
    await projectBatch([fakeMessage(erasedCreated), fakeMessage(erasedEvent)], env, mailSpy());
    const row = await env.DB.prepare("SELECT status, revision FROM users WHERE id = ?").bind(userId).first();
    expect(row).toMatchObject({ status: "erased", revision: 2 });

    open();
    await a;
    const mail = await env.DB.prepare("SELECT recipient, body FROM sent_emails WHERE user_id = ?").bind(userId).first();
    console.log("row:", JSON.stringify(row), "mail:", JSON.stringify(mail), "sent:", mailA.send.mock.calls.length);
    expect(mailA.send).not.toHaveBeenCalled();
    expect(mail === null || (mail as { recipient: string }).recipient === ERASED).toBe(true);
  });
});
