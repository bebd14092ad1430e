import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PublicEventSchema } from "../../src/domain/events";
import { confirmedRevision } from "../../src/write/ledger";
import { MAX_MESSAGE_BYTES } from "../../src/write/unsendable";
import { flushOutbox } from "../../src/write/outbox";
import { adminSession, call } from "../support/api";
import { userWithHash } from "../support/hashes";
import { expectOk, holdPublisher, plantEvents, recordingQueue, settleAlarms, stubFor, tables, update } from "./helpers";
import { readDb, everyEventQueue } from "../support/shards";

/**
 * Issue 24: nothing one user can send blocks the pipeline. An event larger than a queue message
 * (128 KB) once failed the outbox's flush for good ("Unknown Internal Error (15000)", 64 tries),
 * and every later event of the user waited behind it. Now it is dead-lettered with its reason, at
 * once, and the later events flow; the consumer reads it from the object when they show the gap.
 */

/** A user whose first event carries 200 KB in its data (stored before the import gate), then a small update. */
async function userWithHugeEvent() {
  const [created] = userWithHash(`pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$${"A".repeat(43)}=`);
  const userId = created!.aggregate_id;
  const stub = stubFor(userId);
  const hold = await holdPublisher(stub);
  const huge = { ...created!, data: { ...created!.data, note: "x".repeat(200_000) } };
  await plantEvents([huge]);
  expectOk(await update(userId, { first_name: "Later" }));
  return { userId, stub, hold };
}

async function letterOf(userId: string) {
  return env.DB.prepare("SELECT id, revision, state, error, attempts, body FROM dead_letters WHERE aggregate_id = ?")
    .bind(userId)
    .all<{ id: number; revision: number; state: string; error: string; attempts: number; body: string }>();
}

describe("an event too large for one queue message", () => {
  afterEach(settleAlarms);

  it("is dead-lettered with its reason, not retried; the user's later events are sent", async () => {
    const { userId, stub, hold } = await userWithHugeEvent();
    const { queue, batches } = recordingQueue();
    const errors = vi.spyOn(console, "error");
    const flushed = await runInDurableObject(stub, (_instance, state) =>
      flushOutbox(state, { ...env, ...everyEventQueue(queue) }, userId),
    );
    expect(flushed).toBe(true);
    // Only revision 2 went to the queue; revision 1 is a dead letter, open, with why.
    expect(batches.flat().map((body) => PublicEventSchema.parse(body).revision)).toEqual([2]);
    const letters = (await letterOf(userId)).results;
    expect(letters).toEqual([
      expect.objectContaining({ revision: 1, state: "open", attempts: 0, error: expect.stringMatching(/too large/) }),
    ]);
    expect(JSON.parse(letters[0]!.body)).toMatchObject({ revision: 1, event_type: "USER_CREATED" });
    expect(letters[0]!.body).not.toContain("password_hash");
    expect(letters[0]!.error).toContain(String(MAX_MESSAGE_BYTES));
    // Not retried: nothing failed, the outbox no longer holds it, the sent event is owed as usual.
    const after = await tables(stub);
    expect(after.outbox.map((row) => [row.revision, row.sent_at !== null])).toEqual([[2, true]]);
    expect(after.meta).not.toContainEqual(expect.objectContaining({ key: "flush_failures", value: "1" }));
    // An alert: an error line naming the user and the revision.
    const line = errors.mock.calls.map((call) => String(call[0])).find((text) => text.includes("dead-lettered"));
    expect(JSON.parse(line!)).toMatchObject({ level: "error", user_id: userId, revision: 1 });
    errors.mockRestore();
    // The operator sees it; a redrive cannot help (the queue would refuse it again): 409, not a 500.
    const { token } = await adminSession();
    const listed = await call<any>("GET", `/admin/dead-letters?user_id=${userId}`, { token });
    expect(listed.body.results).toEqual([expect.objectContaining({ revision: 1, state: "open" })]);
    const redriven = await call<any>("POST", `/admin/dead-letters/${letters[0]!.id}/redrive`, { token });
    expect(redriven.status).toBe(409);
    expect(redriven.body).toMatchObject({ type: "DeadLetterTooLarge" });
    hold.release();
  });

  it("through the real queue: the later event is projected, the large one read from the object, the letter resolved", async () => {
    const { userId, stub, hold } = await userWithHugeEvent();
    hold.release();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await vi.waitUntil(async () => (await confirmedRevision(readDb(userId), userId)) === 2, { timeout: 15_000 });
    const row = await readDb(userId).prepare("SELECT first_name FROM users WHERE id = ?").bind(userId).first();
    expect(row).toEqual({ first_name: "Later" });
    await vi.waitUntil(async () => (await letterOf(userId)).results[0]?.state === "resolved", { timeout: 15_000 });
  });
});
