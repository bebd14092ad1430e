import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { projectBatch } from "../../src/read/consumer";
import { FINAL_ATTEMPT, recordDeadLetters } from "../../src/read/dead-letters";
import { fakeMessage, mailSpy, userCreated, userEvent } from "./fixtures";

async function deadLettersOf(aggregateId: string) {
  const { results } = await env.DB.prepare("SELECT message_id, error FROM dead_letters WHERE aggregate_id = ?")
    .bind(aggregateId)
    .all<{ message_id: string; error: string }>();
  return results;
}

describe("the error behind a dead letter", () => {
  it("is recorded by the projector on the last delivery, and the dead-letter queue keeps that record", async () => {
    const userId = crypto.randomUUID();
    await projectBatch([fakeMessage(userCreated(userId))], env, mailSpy());
    // Revision 3 with no object to fill revision 2 from: every delivery fails.
    const orphan = userEvent(userId, 3, "USER_UPDATED", { first_name: "Orphan" });

    const early = fakeMessage(orphan, { attempts: FINAL_ATTEMPT - 1 });
    await projectBatch([early], env, mailSpy());
    expect(await deadLettersOf(userId)).toEqual([]);

    const last = fakeMessage(orphan, { attempts: FINAL_ATTEMPT });
    await projectBatch([last], env, mailSpy());
    expect(last.retry).toHaveBeenCalledOnce();
    const recorded = await deadLettersOf(userId);
    expect(recorded).toEqual([{ message_id: orphan.id, error: expect.stringContaining("cannot fill revisions 2..3") }]);

    // The queue then hands the same event to the dead-letter consumer, under another message id.
    await recordDeadLetters([fakeMessage(orphan, { id: "dlq-delivery" })], env.DB);
    expect(await deadLettersOf(userId)).toEqual(recorded);
  });
});
