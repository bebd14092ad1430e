import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { projectBatch } from "../../src/read/consumer";
import { envWith, fakeMessage } from "./fixtures";
import { userCreated } from "../support/builders";

/**
 * The projection's lag is commit → projected. An imported event keeps the time it had at its source
 * (issue 24: a year-old import reported a lag of 41 billion ms and poisoned the worst lag): its
 * message says nothing of when it was committed here, so it is left out of the lag, of the metric's
 * milliseconds and of the status's "last projected … after".
 */
describe("an imported event's old time is not a projection lag", () => {
  it("is counted apart, with no lag, and does not become the last projected event", async () => {
    const userId = crypto.randomUUID();
    const old = userCreated(userId, `lag${userId.slice(0, 8)}`, "2024-01-01T00:00:00.000Z");
    const imported = { ...old, metadata: { ...old.metadata, import_request_id: "import-lag-test" } };
    const points: { blobs: string[]; doubles: number[] }[] = [];
    const metrics = { writeDataPoint: vi.fn((point: { blobs: string[]; doubles: number[] }) => points.push(point)) };
    const logged = vi.spyOn(console, "log");
    try {
      await projectBatch([fakeMessage(imported)], envWith({ METRICS: metrics as never }));
      const projected = logged.mock.calls
        .map(([line]) => JSON.parse(String(line)) as { msg?: string; streams?: { user_id: string }[] })
        .flatMap((line) => (line.msg === "projected" ? (line.streams ?? []) : []))
        .find((stream) => stream.user_id === userId);
      expect(projected).toMatchObject({ lag_ms: null, imported: 1 });
    } finally {
      logged.mockRestore();
    }
    const projections = points.filter((point) => point.blobs[0] === "projection");
    expect(projections.map((point) => [point.blobs[1], point.doubles[0], point.doubles[1]])).toEqual([
      ["imported", 1, 0],
    ]);
    const heads = await env.DB.prepare("SELECT event_id FROM projection_heads").all<{ event_id: string }>();
    expect(heads.results.map((row) => row.event_id)).not.toContain(imported.id);
  });
});
