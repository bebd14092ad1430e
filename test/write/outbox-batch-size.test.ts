import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UserStream } from "../../src/write/user-stream";
import { adminSession, createUser } from "../support/api";

/**
 * Queues cap a sendBatch at 100 messages and 256 KB. 100 corrections with 1000-character reasons
 * (in data and metadata) exceed the bytes: the outbox must split by size, or every retry would
 * send the same 100 again and the user's outbox would be stuck for good.
 */
describe("an outbox backlog of large events", () => {
  it("drains in batches the queue accepts, 100 max-size corrections included", async () => {
    const admin = await adminSession();
    const user = await createUser(admin.token);
    const stub = env.USER_STREAM.getByName(user.id);
    const reason = "r".repeat(1000);
    await runInDurableObject(stub, async (instance: UserStream, state) => {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          instance.execute({
            userId: user.id,
            input: {
              type: "CorrectUser",
              changes: { first_name: `F${i}`.padEnd(150, "x"), last_name: "L".padEnd(150, "y") },
              reason,
            },
            metadata: {
              actor_id: admin.id,
              actor_username: admin.username,
              request_id: "q".repeat(128),
              idempotency_key: crypto.randomUUID() + "k".repeat(200),
              reason,
            },
          }),
        ),
      );
      expect(results.every((r) => r.ok)).toBe(true);
      await state.storage.deleteAlarm();
    });
    for (let i = 0; i < 3; i++) {
      await runInDurableObject(stub, (_i: UserStream, state) => state.storage.setAlarm(Date.now()));
      expect(await runDurableObjectAlarm(stub)).toBe(true);
    }
    const status = await stub.status();
    const failures = await runInDurableObject(
      stub,
      (_i: UserStream, state) =>
        state.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'flush_failures'").toArray()[0]
          ?.value ?? null,
    );
    console.log("outbox after 3 flushes:", status.outboxSize, "flush_failures:", failures);
    expect(status.outboxSize).toBe(0);
  });
});
