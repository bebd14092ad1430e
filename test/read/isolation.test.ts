import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { projectBatch } from "../../src/read/consumer";
import { FINAL_ATTEMPT, listDeadLetters, redriveDeadLetter } from "../../src/read/dead-letters";
import { userCreated, userEvent } from "../support/builders";
import { fakeMessage, userRow } from "./fixtures";
import { recordingQueue } from "../write/helpers";
import { everyReadDb, readDb } from "../support/shards";

const poisoned: string[] = [];

/** Makes one user's row unwritable, as a D1 trigger added by hand would (the incident of issue 9). */
async function poison(userId: string): Promise<void> {
  const name = `poison_${userId.replaceAll("-", "_")}`;
  poisoned.push(name);
  await readDb(userId).exec(
    `CREATE TRIGGER ${name} BEFORE UPDATE ON users WHEN NEW.id = '${userId}' BEGIN SELECT RAISE(ABORT, 'row of ${userId} is poisoned'); END`,
  );
}

async function cure(): Promise<void> {
  for (const name of poisoned.splice(0)) {
    for (const db of everyReadDb()) await db.exec(`DROP TRIGGER IF EXISTS ${name}`);
  }
}

afterEach(async () => {
  await cure();
  vi.restoreAllMocks();
});

async function createdUsers(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => crypto.randomUUID());
  await projectBatch(
    ids.map((id) => fakeMessage(userCreated(id))),
    env,
  );
  return ids;
}

async function lettersOf(userId: string) {
  return listDeadLetters(env.DB, { userId, limit: 10 });
}

describe("a poisoned user among good ones in one batch", () => {
  it("the good users are projected and acked; only the poisoned user's messages retry, then dead-letter alone", async () => {
    const [bad, ...good] = await createdUsers(6);
    await poison(bad!);
    const goodMessages = good.map((id) => fakeMessage(userEvent(id, 2, "USER_UPDATED", { first_name: "Fine" })));
    const badMessages = [
      fakeMessage(userEvent(bad!, 2, "USER_UPDATED", { first_name: "Never" })),
      fakeMessage(userEvent(bad!, 3, "USER_SUSPENDED")),
    ];

    await projectBatch([...goodMessages.slice(0, 2), ...badMessages, ...goodMessages.slice(2)], env);

    for (const [i, id] of good.entries()) {
      expect(await userRow(id!)).toMatchObject({ firstName: "Fine", revision: 2 });
      expect(goodMessages[i]!.ack).toHaveBeenCalledOnce();
      expect(goodMessages[i]!.retry).not.toHaveBeenCalled();
    }
    // Both of the poisoned user's messages retry: the later one is not projected past the first.
    for (const m of badMessages) {
      expect(m.retry).toHaveBeenCalledOnce();
      expect(m.ack).not.toHaveBeenCalled();
    }
    expect(await userRow(bad!)).toMatchObject({ revision: 1, status: "active" });
    expect(await lettersOf(bad!)).toEqual([]);
    // Only the failing projection is stuck: the audit log of the poisoned user moved on.
    const audit = await env.DB.prepare("SELECT revision FROM checkpoints WHERE projection = 'audit' AND user_id = ?")
      .bind(bad!)
      .first<{ revision: number }>();
    expect(audit?.revision).toBe(3);

    // Their last delivery: recorded as dead letters with the poisoned row's error, nobody else's.
    const last = badMessages.map((m) => fakeMessage(m.body, { attempts: FINAL_ATTEMPT }));
    await projectBatch([...last, fakeMessage(userEvent(good[0]!, 3, "USER_SUSPENDED"))], env);
    const letters = await lettersOf(bad!);
    expect(letters.map((l) => [l.revision, l.state, l.projection])).toEqual([
      [3, "open", "users"],
      [2, "open", "users"],
    ]);
    expect(letters[0]!.error).toContain(`row of ${bad} is poisoned`);
    expect(await userRow(good[0]!)).toMatchObject({ status: "suspended", revision: 3 });
    for (const id of good) expect(await lettersOf(id!)).toEqual([]);
  });

  it("retries of users failing together are spread by jitter", async () => {
    const users = await createdUsers(4);
    for (const id of users) await poison(id);
    vi.spyOn(Math, "random")
      .mockReturnValueOnce(0)
      .mockReturnValueOnce(0.3)
      .mockReturnValueOnce(0.6)
      .mockReturnValueOnce(0.99);
    const messages = users.map((id) => fakeMessage(userEvent(id, 2, "USER_SUSPENDED"), { attempts: 5 }));

    await projectBatch(messages, env);

    const delays = messages.map((m) => m.retry.mock.calls[0]![0]!.delaySeconds);
    expect(delays).toEqual([8, 10, 13, 16]);
  });
});

describe("dead letters keep their history", () => {
  it("a redriven letter that fails again is open again, with both failures; once projected it is resolved and redrive is refused", async () => {
    const [userId] = await createdUsers(1);
    await poison(userId!);
    const event = userEvent(userId!, 2, "USER_UPDATED", { first_name: "Stuck" });
    await projectBatch([fakeMessage(event, { attempts: FINAL_ATTEMPT })], env);
    const [letter] = await lettersOf(userId!);
    expect(letter).toMatchObject({ state: "open", exhaustions: 1, attempts: FINAL_ATTEMPT, revision: 2 });

    const { queue, batches } = recordingQueue();
    const sent: unknown[] = [];
    queue.send = async (body) => {
      sent.push(body);
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
    };
    expect(
      await redriveDeadLetter(
        env.DB,
        () => queue,
        letter!.id,
        async () => false,
      ),
    ).toBe("redriven");
    expect(sent).toEqual([event]);
    expect(batches).toEqual([]);
    expect((await lettersOf(userId!))[0]).toMatchObject({ state: "redriven" });
    expect(await listDeadLetters(env.DB, { state: "open", userId, limit: 10 })).toEqual([]);

    // The cause is still there: the redriven message uses up its retries again.
    await projectBatch([fakeMessage(event, { attempts: FINAL_ATTEMPT })], env);
    const again = await listDeadLetters(env.DB, { state: "open", userId, limit: 10 });
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ id: letter!.id, exhaustions: 2, attempts: 2 * FINAL_ATTEMPT });
    expect(again[0]!.history).toHaveLength(2);
    expect(again[0]!.firstFailedAt).toBe(letter!.firstFailedAt);

    // Fixed: the next delivery projects it, and the letter is resolved by that projection.
    await cure();
    await projectBatch([fakeMessage(event)], env);
    expect(await userRow(userId!)).toMatchObject({ firstName: "Stuck", revision: 2 });
    expect((await lettersOf(userId!))[0]).toMatchObject({ state: "resolved", exhaustions: 2 });
    expect(
      await redriveDeadLetter(
        env.DB,
        () => queue,
        letter!.id,
        async () => false,
      ),
    ).toBe("resolved");
    expect(sent).toHaveLength(1);
  });
});
