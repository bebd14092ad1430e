import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { confirmedRevision } from "../../src/write/ledger";
import { flushOutbox } from "../../src/write/outbox";
import type { UserStream } from "../../src/write/user-stream";
import { createInput, noMetadata } from "../support/builders";
import { adminSession, call } from "../support/api";
import { blackHole } from "../write/helpers";
import { readDb, everyEventQueue } from "../support/shards";

/** The object's private publisher. */
function publisherOf(instance: UserStream): { publishUnsent(): Promise<void>; claims(): boolean } {
  return (instance as unknown as { publisher: { publishUnsent(): Promise<void>; claims(): boolean } }).publisher;
}

describe("events whose queue messages were lost", () => {
  it("reach every projection with no manual step: the object re-publishes what the read side never confirmed", async () => {
    const admin = await adminSession();
    const userId = crypto.randomUUID();
    const stub = env.USER_STREAM.getByName(userId);
    // Only the publish right after each commit is held, and the commits leave their rows unsent
    // for the flush below; the alarm each first commit arms stays.
    const held = await runInDurableObject(stub, (instance: UserStream) => [
      vi.spyOn(publisherOf(instance), "publishUnsent").mockResolvedValue(undefined),
      vi.spyOn(publisherOf(instance), "claims").mockReturnValue(false),
    ]);
    for (const input of [
      createInput({ username: `lost${userId.slice(0, 8)}` }),
      { type: "UpdateUser" as const, first_name: "Second" },
      { type: "SuspendUser" as const },
    ]) {
      expect((await stub.execute({ userId, input, metadata: noMetadata })).ok).toBe(true);
    }
    // Sent and acknowledged by the queue, then lost with it.
    expect(
      await runInDurableObject(stub, (_i, state) =>
        flushOutbox(state, { ...env, ...everyEventQueue(blackHole) }, userId),
      ),
    ).toBe(true);
    for (const spy of held) spy.mockRestore();
    expect((await stub.status()).outboxSize).toBe(3);
    const owed = await readDb(userId).prepare("SELECT * FROM streams WHERE user_id = ?").bind(userId).first();
    expect(owed).toMatchObject({ published_revision: 3, confirmed_revision: 0 });
    expect((await call("GET", `/v1/users/${userId}/`, { token: admin.token })).status).toBe(404);

    // Nothing is done by hand: the object's alarm finds the events unconfirmed and sends them again.
    await vi.waitUntil(async () => (await confirmedRevision(readDb(userId), userId)) === 3, {
      timeout: 30_000,
      interval: 250,
    });
    const user = await call("GET", `/v1/users/${userId}/`, { token: admin.token });
    expect(user.body).toMatchObject({ user: { first_name: "Second", status: "suspended", revision: 3 } });
    const audit = await env.DB.prepare("SELECT revision FROM audit_log WHERE user_id = ? ORDER BY revision")
      .bind(userId)
      .all<{ revision: number }>();
    expect(audit.results.map((row) => row.revision)).toEqual([1, 2, 3]);
    // And the object forgets them once confirmed, on a later alarm.
    await vi.waitUntil(async () => (await stub.status()).outboxSize === 0, { timeout: 30_000, interval: 250 });
  });

  it("reach every projection when the process died between the commit and its publish: rows the commit marked sent are re-published", async () => {
    const admin = await adminSession();
    const userId = crypto.randomUUID();
    const stub = env.USER_STREAM.getByName(userId);
    // The commits mark their rows sent, for the publish that follows them; that publish never
    // runs (the process died first): nothing was announced, nothing sent.
    const held = await runInDurableObject(stub, (instance: UserStream) =>
      vi.spyOn(publisherOf(instance), "publishUnsent").mockResolvedValue(undefined),
    );
    for (const input of [
      createInput({ username: `died${userId.slice(0, 8)}` }),
      { type: "UpdateUser" as const, first_name: "Second" },
    ]) {
      expect((await stub.execute({ userId, input, metadata: noMetadata })).ok).toBe(true);
    }
    const rows = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql
        .exec<{ revision: number; sent_at: number | null }>("SELECT revision, sent_at FROM outbox")
        .toArray(),
    );
    expect(rows.map((row) => [row.revision, row.sent_at !== null])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect(await readDb(userId).prepare("SELECT * FROM streams WHERE user_id = ?").bind(userId).first()).toBeNull();
    held.mockRestore();

    // The alarm the first commit armed finds them owed and unconfirmed, and re-publishes them.
    await vi.waitUntil(async () => (await confirmedRevision(readDb(userId), userId)) === 2, {
      timeout: 30_000,
      interval: 250,
    });
    const user = await call("GET", `/v1/users/${userId}/`, { token: admin.token });
    expect(user.body).toMatchObject({ user: { first_name: "Second", revision: 2 } });
  });
});
