import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ERASED, type EventMetadata, type PublicEvent } from "../../src/domain/events";
import { projectBatch } from "../../src/read/consumer";
import { feedProjection } from "../../src/read/projections/feed";
import { rebuildUsers } from "../../src/read/replay";
import { createInput, noMetadata, userCreated, userEvent } from "../support/builders";
import { fakeMessage, quietUser } from "./fixtures";

const newId = () => crypto.randomUUID();

interface Row {
  position: number;
  revision: number;
  event: PublicEvent;
}

/** The user's feed rows, oldest position first. */
async function feedOf(userId: string): Promise<Row[]> {
  const { results } = await env.DB.prepare(
    "SELECT position, revision, event FROM feed WHERE user_id = ? ORDER BY position",
  )
    .bind(userId)
    .all<{ position: number; revision: number; event: string }>();
  return results.map((row) => ({ ...row, event: JSON.parse(row.event) as PublicEvent }));
}

const project = (events: PublicEvent[]) =>
  projectBatch(
    events.map((event) => fakeMessage(event)),
    env,
  );

describe("the feed projection", () => {
  it("takes each event once: a duplicate in the batch or a redelivery later adds no row and moves no position", async () => {
    const userId = newId();
    const created = userCreated(userId);
    const updated = userEvent(userId, 2, "USER_UPDATED", { first_name: "Twice" });
    await project([created, created, updated, updated]);
    const first = await feedOf(userId);

    await project([updated, created]);

    expect(first.map((row) => row.event)).toEqual([created, updated]);
    expect(await feedOf(userId)).toEqual(first);
  });

  it("keeps each user's revision order, whatever order the queue delivers in", async () => {
    const [a, b] = [newId(), newId()];
    const streamA = await quietUser(a, [
      createInput({ username: `fa${a.slice(0, 8)}` }),
      { type: "UpdateUser", first_name: "A2" },
      { type: "SuspendUser" },
    ]);
    const createdB = userCreated(b);
    const laterB = userEvent(b, 2, "USER_SUSPENDED");

    // A's newest first: the gap is filled from A's object, in order; B arrives newest first in the batch.
    await project([streamA[2]!, laterB, createdB]);
    await project([streamA[0]!, streamA[1]!]);

    const rowsA = await feedOf(a);
    expect(rowsA.map((row) => row.revision)).toEqual([1, 2, 3]);
    expect(rowsA.map((row) => row.event)).toEqual(streamA);
    expect((await feedOf(b)).map((row) => row.revision)).toEqual([1, 2]);
  });

  it("an event behind the checkpoint is not appended late, out of its user's order", async () => {
    const userId = newId();
    const created = userCreated(userId);
    const second = userEvent(userId, 2, "USER_UPDATED", { last_name: "Second" });
    await project([created, second]);
    await env.DB.prepare("DELETE FROM feed WHERE event_id = ?").bind(second.id).run();

    // The checkpoint says revision 2 is in: a redelivery of it is a duplicate, not a new position.
    await project([second]);

    expect((await feedOf(userId)).map((row) => row.revision)).toEqual([1]);
  });

  it("an erasure rewrites the user's earlier rows in place as the erased stream reads, positions kept", async () => {
    const userId = newId();
    const username = `fe${userId.slice(0, 8)}`;
    const before = await quietUser(userId, [
      createInput({ username, first_name: "Sarah" }),
      { type: "UpdateUser", first_name: "Sally", email: `${username}@new.example` },
    ]);
    await project(before);
    const positions = (await feedOf(userId)).map((row) => row.position);
    const stub = env.USER_STREAM.getByName(userId);
    const erased = await stub.execute({ userId, input: { type: "EraseUser" }, metadata: noMetadata });
    expect(erased.ok).toBe(true);
    const stream = await stub.readStream(1, 100);

    await project([stream[2]!]);

    const rows = await feedOf(userId);
    expect(rows.map((row) => row.position).slice(0, 2)).toEqual(positions);
    expect(rows.map((row) => row.event)).toEqual(stream);
    expect(rows[0]!.event.data).toMatchObject({
      username: ERASED,
      email: ERASED,
      first_name: ERASED,
      last_name: ERASED,
    });
    expect(JSON.stringify(rows)).not.toContain("Sally");
    expect(JSON.stringify(rows)).not.toContain(username);
  });

  it("an erasure forgets the subject's own username as an actor, not the admin's who acted on them", async () => {
    const userId = newId();
    const admin: EventMetadata = { ...noMetadata, actor_id: newId(), actor_username: "root" };
    const self: EventMetadata = { ...noMetadata, actor_id: userId, actor_username: "sarah" };
    const created = { ...userCreated(userId, "sarah"), metadata: admin };
    const updated = { ...userEvent(userId, 2, "USER_UPDATED", { first_name: "Sally" }), metadata: self };
    await project([created, updated]);

    await project([{ ...userEvent(userId, 3, "USER_ERASED"), metadata: admin }]);

    const [first, second] = await feedOf(userId);
    expect(first!.event.metadata.actor_username).toBe("root");
    expect(first!.event.data).toMatchObject({ username: ERASED, first_name: ERASED, role: "user" });
    expect(second!.event.metadata.actor_username).toBe(ERASED);
    expect(second!.event.data).toEqual({ first_name: ERASED });
  });

  it("a rebuild appends only the missing rows, after every position so far, and leaves the rest where they were", async () => {
    const userId = newId();
    const stream = await quietUser(userId, [
      createInput({ username: `fr${userId.slice(0, 8)}` }),
      { type: "UpdateUser", first_name: "R2" },
      { type: "SuspendUser" },
    ]);
    await project([stream[0]!]);
    const [kept] = await feedOf(userId);
    // Another user's event, so the feed's end is past the rebuilt user's rows.
    await project([userCreated(newId())]);
    const end = (await env.DB.prepare("SELECT max(position) AS p FROM feed").first<{ p: number }>())!.p;

    await rebuildUsers(env, [userId], [feedProjection]);
    const rebuilt = await feedOf(userId);
    await rebuildUsers(env, [userId], [feedProjection]);

    expect(rebuilt[0]).toEqual(kept);
    expect(rebuilt.map((row) => row.event)).toEqual(stream);
    expect(rebuilt[1]!.position).toBeGreaterThan(end);
    expect(rebuilt[2]!.position).toBeGreaterThan(rebuilt[1]!.position);
    expect(await feedOf(userId)).toEqual(rebuilt);
    const checkpoint = await env.DB.prepare(
      "SELECT revision FROM checkpoints WHERE projection = 'feed' AND user_id = ?",
    )
      .bind(userId)
      .first<{ revision: number }>();
    expect(checkpoint).toEqual({ revision: 3 });
  });

  it("a rebuild leaves a user the live consumer has projected past the stream it read", async () => {
    const userId = newId();
    const [created] = await quietUser(userId, [createInput({ username: `fp${userId.slice(0, 8)}` })]);
    await project([created!]);
    await env.DB.prepare("UPDATE checkpoints SET revision = 5 WHERE projection = 'feed' AND user_id = ?")
      .bind(userId)
      .run();
    await env.DB.prepare("DELETE FROM feed WHERE user_id = ?").bind(userId).run();

    await rebuildUsers(env, [userId], [feedProjection]);

    expect(await feedOf(userId)).toEqual([]);
  });
});
