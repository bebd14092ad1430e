import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { eventSchemas, type EventMetadata } from "../../src/domain/events";
import { createUser, rejectionOf, settleAlarms, stubFor, update, type EventRow, type Stub } from "./helpers";

/**
 * Events keep the schema version they were written with. A stream written before USER_DELETED v2
 * (data `{}`, the reason only in the request's metadata) must read as v2 everywhere, with
 * `data.reason` taken from the metadata, and fold to a deleted user.
 */

/**
 * Appends a USER_DELETED row exactly as the v1 writer stored it, a minute after the user's creation;
 * returns its id and time.
 */
async function appendLegacyDelete(stub: Stub, metadata: EventMetadata): Promise<{ id: string; timestamp: string }> {
  const id = crypto.randomUUID();
  const [created] = await stub.readStream(1, 1);
  const timestamp = new Date(Date.parse(created!.timestamp) + 60_000).toISOString();
  await runDurableObjectAlarm(stub);
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec(
      "INSERT INTO events (revision, id, event_type, version, timestamp, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
      2,
      id,
      "USER_DELETED",
      1,
      timestamp,
      "{}",
      JSON.stringify(metadata),
    );
  });
  return { id, timestamp };
}

const legacyMetadata = (reason: string | null): EventMetadata => ({
  actor_id: "5a1e9c3b-7f2d-4c8e-b6a0-2d9f4e1c7b55",
  actor_username: "ops-admin",
  request_id: "legacy-request-1",
  idempotency_key: null,
  reason,
});

describe("a USER_DELETED stored as version 1", () => {
  afterEach(settleAlarms);

  it("is the current version on the way in (the test's premise)", () => {
    expect(eventSchemas.USER_DELETED.version).toBe(2);
  });

  it("reads as version 2 with data.reason from metadata.reason, in readStream and history", async () => {
    const { userId, stub, username } = await createUser();
    const { id, timestamp: deletedAt } = await appendLegacyDelete(
      stub,
      legacyMetadata("Account closed by support (legacy)"),
    );

    // Stored as written: version 1, empty data.
    const rows = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<EventRow>("SELECT * FROM events ORDER BY revision").toArray(),
    );
    expect(rows[1]).toMatchObject({ revision: 2, id, event_type: "USER_DELETED", version: 1, data: "{}" });

    const stream = await stub.readStream(1, 10);
    expect(stream.map((e) => [e.revision, e.event_type, e.version])).toEqual([
      [1, "USER_CREATED", 1],
      [2, "USER_DELETED", 2],
    ]);
    expect(stream[1]).toEqual({
      id,
      aggregate_id: userId,
      event_type: "USER_DELETED",
      version: 2,
      timestamp: deletedAt,
      revision: 2,
      data: { reason: "Account closed by support (legacy)" },
      metadata: legacyMetadata("Account closed by support (legacy)"),
    });
    // The creation, stored with its personal fields in the vault, reads back whole.
    expect(stream[0]).toMatchObject({ event_type: "USER_CREATED", data: { username } });

    expect(await stub.history({ revision: 1 })).toMatchObject({ username, status: "active", deleted_at: null });
    expect(await stub.history({ revision: 2 })).toMatchObject({
      username,
      status: "deleted",
      deleted_at: deletedAt,
      updated_at: deletedAt,
      revision: 2,
    });
    expect(await stub.history({ timestamp: deletedAt })).toMatchObject({ status: "deleted", revision: 2 });
    const justBefore = new Date(Date.parse(deletedAt) - 1).toISOString();
    expect(await stub.history({ timestamp: justBefore })).toMatchObject({ status: "active", revision: 1 });
  });

  it("a v1 deletion without a reason reads as reason null", async () => {
    const { stub } = await createUser();
    await appendLegacyDelete(stub, legacyMetadata(null));
    const [, deleted] = await stub.readStream(1, 10);
    expect(deleted).toMatchObject({ version: 2, data: { reason: null } });
  });

  it("after a cold start the object's state is deleted, and the domain's rules apply to it", async () => {
    const { userId, stub, username } = await createUser();
    const { timestamp: deletedAt } = await appendLegacyDelete(stub, legacyMetadata("GDPR request"));

    await evictDurableObject(stub);
    const cold = stubFor(userId);
    const { revision, user } = await cold.getUser();
    expect(revision).toBe(2);
    expect(user).toMatchObject({ id: userId, username, status: "deleted", deleted_at: deletedAt });
    expect(await cold.authenticate("correct-horse-1")).toEqual({ ok: false, reason: "invalid" });
    expect(rejectionOf(await update(userId, { first_name: "Zombie" }))).toMatchObject({
      code: "BusinessRuleViolated",
      rule: "user_update_deleted",
    });
    // Nothing was appended by the rejected update.
    expect((await cold.readStream(1, 10)).map((e) => e.revision)).toEqual([1, 2]);
  });
});
