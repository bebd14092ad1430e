import { env } from "cloudflare:workers";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { DEAD_LETTER_QUEUE, EVENTS_QUEUE, projectBatch } from "../../src/read/consumer";
import { FINAL_ATTEMPT, recordDeadLetters } from "../../src/read/dead-letters";
import { adminSession, call } from "../support/api";
import { fakeMessage, userRow } from "./fixtures";
import { userCreated, userEvent } from "../support/builders";
import type { UserView } from "../support/types";

interface DeadLetter {
  id: number;
  message_id: string;
  aggregate_id: string | null;
  revision: number | null;
  body: string;
  error: string;
  attempts: number;
  failed_at: string;
}

let token: string;
beforeAll(async () => {
  ({ token } = await adminSession());
});

async function deadLetters(): Promise<DeadLetter[]> {
  const res = await call<{ results: DeadLetter[] }>("GET", "/admin/dead-letters", { token });
  expect(res.status).toBe(200);
  return res.body.results;
}

async function runQueue(queue: string, messages: { id: string; body: unknown }[]) {
  const batch = createMessageBatch(
    queue,
    messages.map((m) => ({ ...m, timestamp: new Date(), attempts: 1 })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

describe("poison messages", () => {
  it("a malformed message is dead-lettered with its error and acked, and the valid ones in its batch are projected", async () => {
    const valid = crypto.randomUUID();
    const later = crypto.randomUUID();
    const garbageId = `garbage-${crypto.randomUUID()}`;
    const badTypeId = `badtype-${crypto.randomUUID()}`;
    const badType = { ...userEvent(later, 2, "USER_UPDATED"), event_type: "USER_EXPLODED" };

    const result = await runQueue(EVENTS_QUEUE, [
      { id: garbageId, body: { hello: "world" } },
      { id: "valid-create", body: userCreated(valid) },
      { id: badTypeId, body: badType },
    ]);

    expect(result.retryMessages).toEqual([]);
    expect(result.retryBatch.retry).toBe(false);
    expect([...result.explicitAcks].sort()).toEqual([badTypeId, garbageId, "valid-create"].sort());
    expect(await userRow(valid)).toMatchObject({ revision: 1 });

    const letters = await deadLetters();
    const garbage = letters.find((l) => l.message_id === garbageId);
    expect(garbage).toMatchObject({ aggregate_id: null, revision: null, attempts: 1 });
    expect(JSON.parse(garbage!.body)).toEqual({ hello: "world" });
    expect(garbage!.error).toMatch(/aggregate_id/);
    const typed = letters.find((l) => l.aggregate_id === later);
    expect(typed).toMatchObject({ aggregate_id: later, revision: 2 });
    expect(typed!.error).toMatch(/event_type/);
  });

  it("a message whose data fails the current schema is dead-lettered naming the field; an older version is upcast and projected", async () => {
    const broken = crypto.randomUUID();
    const old = crypto.randomUUID();
    const created = userCreated(broken);
    const noEmail = { ...created, data: { ...created.data, email: 42 } };
    // USER_DELETED v1 had no data; the upcaster lifts the reason from the request's metadata.
    const v1 = { ...userEvent(old, 2, "USER_DELETED", { reason: null }), version: 1, data: {} };

    const result = await runQueue(EVENTS_QUEUE, [
      { id: `bad-data-${broken}`, body: noEmail },
      { id: `old-create-${old}`, body: userCreated(old) },
      { id: `old-delete-${old}`, body: v1 },
    ]);

    expect(result.retryMessages).toEqual([]);
    expect(await userRow(broken)).toBeUndefined();
    expect(await userRow(old)).toMatchObject({ status: "deleted", revision: 2 });
    const letter = (await deadLetters()).find((l) => l.aggregate_id === broken);
    expect(letter).toMatchObject({ revision: 1 });
    expect(letter!.error).toMatch(/USER_CREATED v1 .* does not match the current schema/);
    expect(letter!.error).toMatch(/email/);
  });

  it("the same poison message delivered twice is recorded once", async () => {
    const id = `twice-${crypto.randomUUID()}`;
    const first = fakeMessage({ nonsense: true }, { id });
    const second = fakeMessage({ nonsense: true }, { id, attempts: 2 });
    await projectBatch([first], env);
    await projectBatch([second], env);
    expect(first.ack).toHaveBeenCalledOnce();
    expect(second.ack).toHaveBeenCalledOnce();
    expect((await deadLetters()).filter((l) => l.message_id === id)).toHaveLength(1);
  });

  it("the dead-letter listing needs an admin", async () => {
    expect((await call("GET", "/admin/dead-letters")).status).toBe(401);
  });
});

describe("redrive", () => {
  it("a message the projector gave up on is listed, and redrive sends it back through the projector", async () => {
    const userId = crypto.randomUUID();
    const event = userCreated(userId);
    const messageId = `given-up-${crypto.randomUUID()}`;
    // After max_retries the runtime moves a message to the dead-letter queue; its consumer records it.
    const result = await runQueue(DEAD_LETTER_QUEUE, [{ id: messageId, body: event }]);
    expect(result.explicitAcks).toEqual([messageId]);

    // An event's dead letter is keyed by the event's id, whatever queue message carried it.
    const letter = (await deadLetters()).find((l) => l.message_id === event.id);
    expect(letter).toMatchObject({ aggregate_id: userId, revision: 1, error: "projection failed after all retries" });
    expect(await userRow(userId)).toBeUndefined();

    const redriven = await call("POST", `/admin/dead-letters/${letter!.id}/redrive`, { token });
    expect(redriven.status).toBe(200);
    expect(redriven.body).toEqual({ message: "Dead letter re-driven" });

    // The real queue delivers it to the real consumer: read-your-writes waits for the row.
    // This user exists only in the redriven message, not as a stream (min_revision would answer 404
    // for it): wait for its row, then read it.
    await vi.waitUntil(async () => (await userRow(userId)) !== undefined);
    const read = await call<{ user: UserView }>("GET", `/v1/users/${userId}/`, { token });
    expect(read.status).toBe(200);
    expect(read.body.user).toMatchObject({ id: userId, username: event.data.username, revision: 1 });
    expect((await deadLetters()).some((l) => l.id === letter!.id)).toBe(false);
  });

  it("redrive of an unknown dead letter is 404; of a bad id 400", async () => {
    const unknown = await call("POST", "/admin/dead-letters/987654321/redrive", { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: "HTTP Error" });
    const bad = await call("POST", "/admin/dead-letters/abc/redrive", { token });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: "Bad Request" });
  });
});

async function deadLettersOf(aggregateId: string) {
  const { results } = await env.DB.prepare("SELECT message_id, error FROM dead_letters WHERE aggregate_id = ?")
    .bind(aggregateId)
    .all<{ message_id: string; error: string }>();
  return results;
}

describe("the error behind a dead letter", () => {
  it("is recorded by the projector on the last delivery, and the dead-letter queue keeps that record", async () => {
    const userId = crypto.randomUUID();
    await projectBatch([fakeMessage(userCreated(userId))], env);
    // Revision 3 with no object to fill revision 2 from: every delivery fails.
    const orphan = userEvent(userId, 3, "USER_UPDATED", { first_name: "Orphan" });

    const early = fakeMessage(orphan, { attempts: FINAL_ATTEMPT - 1 });
    await projectBatch([early], env);
    expect(await deadLettersOf(userId)).toEqual([]);

    const last = fakeMessage(orphan, { attempts: FINAL_ATTEMPT });
    await projectBatch([last], env);
    expect(last.retry).toHaveBeenCalledOnce();
    const recorded = await deadLettersOf(userId);
    expect(recorded).toEqual([{ message_id: orphan.id, error: expect.stringContaining("cannot fill revisions 2..3") }]);

    // The queue then hands the same event to the dead-letter consumer, under another message id.
    await recordDeadLetters([fakeMessage(orphan, { id: "dlq-delivery" })], env.DB);
    expect(await deadLettersOf(userId)).toEqual(recorded);
  });
});

describe("the dead-letter list over HTTP", () => {
  it("filters by user and state, shows each letter's history, and refuses to redrive a resolved one", async () => {
    const userId = crypto.randomUUID();
    await projectBatch([fakeMessage(userCreated(userId))], env);
    // Revision 3 without 2, for a user with no object to fill the gap from: fails on every delivery.
    const orphan = userEvent(userId, 3, "USER_SUSPENDED");
    await projectBatch([fakeMessage(orphan, { attempts: FINAL_ATTEMPT })], env);

    type Listed = DeadLetter & { state: string; exhaustions: number; history: unknown[]; projection: string | null };
    const list = async (query: string) => {
      const res = await call<{ results: Listed[]; next_cursor: number | null }>(
        "GET",
        `/admin/dead-letters?user_id=${userId}&${query}`,
        { token },
      );
      expect(res.status).toBe(200);
      return res.body.results;
    };
    const [open] = await list("state=open");
    expect(open).toMatchObject({ revision: 3, state: "open", exhaustions: 1, projection: null });
    expect(open!.history).toHaveLength(1);
    expect(await list("state=resolved")).toEqual([]);

    // The missing event arrives: the user is projected past the letter, which is resolved with it.
    await projectBatch(
      [fakeMessage(userEvent(userId, 2, "USER_UPDATED", { first_name: "Late" })), fakeMessage(orphan)],
      env,
    );
    expect(await userRow(userId)).toMatchObject({ status: "suspended", revision: 3 });
    expect(await list("state=open")).toEqual([]);
    const [resolved] = await list("state=resolved");
    expect(resolved).toMatchObject({ id: open!.id, state: "resolved" });
    expect((await list("state=all")).map((l) => l.id)).toEqual([open!.id]);

    const redrive = await call("POST", `/admin/dead-letters/${open!.id}/redrive`, { token });
    expect(redrive.status).toBe(409);
    expect(redrive.body).toMatchObject({ error: "Resource Conflict", type: "DeadLetterResolved" });
  });
});
