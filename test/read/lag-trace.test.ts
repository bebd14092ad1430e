import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { markPublish, takePublishMarks } from "../../src/observability";
import { projectBatch } from "../../src/read/consumer";
import { fakeMessage } from "./fixtures";
import { userCreated } from "../support/builders";

// bench/lag.mjs --trace 1 reads where each event's lag went from the consumer's `projected` line;
// production must pay nothing for it: no trace in the line, no marks kept or read.

/** The `projected` lines logged while `work` runs. */
async function projectedLines(work: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const spy = vi.spyOn(console, "log");
  try {
    await work();
    return spy.mock.calls
      .map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
      .filter((line) => line.msg === "projected");
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

/** `env` with one more var, as `--var` gives it (configuration asks whether the key is there, then reads it). */
function withVar(name: string, value: string): Env {
  return new Proxy(env, {
    has: (target, key) => key === name || Reflect.has(target, key),
    get: (target, key) => (key === name ? value : Reflect.get(target, key)),
  });
}

describe("the bench-only lag trace", () => {
  it("is off without BENCH_TRACE: the projected line carries no trace and the publish's marks stay unread", async () => {
    const userId = crypto.randomUUID();
    markPublish(userId, [1], "sent", 1);

    const lines = await projectedLines(() => projectBatch([fakeMessage(userCreated(userId))], env));

    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toHaveProperty("trace");
    expect(takePublishMarks(userId, 1)).toEqual({ sent: 1 });
  });

  it("with BENCH_TRACE=1: the batch's hops in order, and the user's oldest event with its publish's marks", async () => {
    const traced = withVar("BENCH_TRACE", "1");
    const userId = crypto.randomUUID();
    const event = userCreated(userId);
    const commit = Date.parse(event.timestamp);
    markPublish(userId, [1], "publish", commit + 1);
    markPublish(userId, [1], "announced", commit + 2);
    markPublish(userId, [1], "sent", commit + 3);

    const lines = await projectedLines(() => projectBatch([fakeMessage(event)], traced));

    const trace = lines[0]!.trace as {
      batch: Record<string, number>;
      streams: Record<string, unknown>[];
    };
    const { received, loaded, planned, committed, messages } = trace.batch;
    expect(messages).toBe(1);
    expect([received, loaded, planned, committed]).toEqual(
      [received, loaded, planned, committed].sort((a, b) => a! - b!),
    );
    expect(trace.streams).toEqual([
      expect.objectContaining({ user: userId, commit, publish: commit + 1, announced: commit + 2, sent: commit + 3 }),
    ]);
    // Read once: a later batch of the same user does not see them again.
    expect(takePublishMarks(userId, 1)).toEqual({});
  });
});
