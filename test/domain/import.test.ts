import { describe, expect, it } from "vitest";
import referenceRows from "../fixtures/reference-rows.ndjson?raw";
import { importLine, lift, planImport, type ImportContext, type StoredEvent } from "../../src/domain/import";
import { fold, initialState } from "../../src/domain/user";
import { given, record, userCreated } from "./decider-spec";

const context: ImportContext = {
  importRequestId: "import-req-1",
  instant: (text) => {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? null : new Date(ms).toISOString();
  },
};

const rows = referenceRows
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as Record<string, any>);

function imported(value: unknown): StoredEvent {
  const result = importLine(value, context);
  if (!result.ok) throw new Error(result.error);
  return result.event;
}

const ALICE = rows[0]!.aggregate_id as string;
const alice = rows.filter((row) => row.aggregate_id === ALICE).map(imported);

describe("a reference row becomes one of our events", () => {
  it("keeps id, revision, version and the time (to the millisecond, in UTC); metadata says imported", () => {
    expect(alice[0]).toEqual({
      id: rows[0]!.id,
      aggregate_id: ALICE,
      event_type: "USER_CREATED",
      version: 1,
      timestamp: "2025-08-16T09:00:00.123Z",
      revision: 1,
      data: rows[0]!.data,
      metadata: {
        actor_id: null,
        actor_username: null,
        request_id: null,
        idempotency_key: null,
        reason: null,
        import_request_id: "import-req-1",
      },
    });
    const bobDeleted = imported(rows[4]);
    expect(bobDeleted.timestamp).toBe("2025-08-19T06:00:00.250Z");
  });

  it("drops the reference's null fields of USER_UPDATED: null means unchanged", () => {
    expect(alice[1]!.data).toEqual({ first_name: "Alicia" });
    const state = fold(alice.map(lift));
    expect(state.user).toMatchObject({ first_name: "Alicia", last_name: "Liddell", email: "alice@example.com" });
  });

  it("stores USER_DELETED as the reference's v1 `{}` and reads it as v2 through the upcaster", () => {
    const deleted = imported(rows[4]);
    expect(deleted).toMatchObject({ version: 1, data: {} });
    expect(lift(deleted)).toMatchObject({ version: 2, data: { reason: null } });
  });

  it("keeps the bcrypt hash and its hashing method", () => {
    expect(alice[2]!.data).toEqual({ password_hash: rows[2]!.data.password_hash, hashing_method: "bcrypt" });
    expect(fold(alice.map(lift)).user!.password_hash).toMatch(/^\$2b\$04\$/);
  });

  it("rejects what is not a row or an event, with the reason", () => {
    expect(importLine({ id: "x" }, context)).toMatchObject({ ok: false, error: /not a user_event_stream row/ });
    expect(importLine({ ...rows[0], timestamp: "yesterday" }, context)).toEqual({
      ok: false,
      error: 'unreadable timestamp "yesterday"',
    });
    expect(importLine({ ...rows[0], data: { username: "x" } }, context)).toMatchObject({
      ok: false,
      error: /password_hash is missing/,
    });
    expect(importLine({ ...rows[1], data: { first_name: 42 } }, context)).toMatchObject({
      ok: false,
      error: /invalid USER_UPDATED/,
    });
  });
});

describe("a line of our own export becomes the same event", () => {
  const created = record(
    userCreated({ password_hash: `pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$${"A".repeat(43)}=` }),
  )[0]!;
  const exported = {
    ...created,
    data: { ...(created.data as Record<string, unknown>) },
    id: "0b9f2f0e-1c3a-4d5e-8f60-7a8b9c0d1e2f",
    aggregate_id: "1b9f2f0e-1c3a-4d5e-8f60-7a8b9c0d1e2f",
    metadata: {
      actor_id: "2b9f2f0e-1c3a-4d5e-8f60-7a8b9c0d1e2f",
      actor_username: "root",
      request_id: "r-1",
      idempotency_key: "k-1",
      reason: null,
      import_request_id: "an-older-import",
    },
  };

  it("keeps everything, the metadata included; only the import's own request id is ours", () => {
    expect(imported(exported)).toEqual({
      ...exported,
      metadata: { ...exported.metadata, import_request_id: "import-req-1" },
    });
  });

  it("needs the hash: a redacted export does not import", () => {
    const { password_hash: _hash, ...data } = exported.data;
    expect(importLine({ ...exported, data }, context)).toMatchObject({ ok: false, error: /secrets=include/ });
  });

  it("refuses a schema version newer than this service's", () => {
    expect(importLine({ ...exported, version: 9 }, context)).toMatchObject({ ok: false, error: /newer/ });
  });
});

describe("planning one user's import", () => {
  const none = new Map<number, string>();
  const noIds = new Map<string, number>();

  it("appends a whole life onto an empty stream, in revision order whatever the line order", () => {
    const plan = planImport(initialState, [...alice].reverse(), none, noIds);
    expect(plan).toMatchObject({ ok: true, skipped: 0 });
    if (!plan.ok) return;
    expect(plan.append.map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(plan.after).toEqual(fold(alice.map(lift)));
  });

  it("skips events the stream holds and continues after them", () => {
    const state = fold(alice.slice(0, 2).map(lift));
    const ids = new Map(alice.slice(0, 2).map((e) => [e.id, e.revision]));
    const at = new Map(alice.slice(0, 2).map((e) => [e.revision, e.id]));
    expect(planImport(state, alice, at, ids)).toMatchObject({ ok: true, skipped: 2, append: [alice[2]] });
  });

  it("rejects a revision gap, naming the event", () => {
    const plan = planImport(initialState, [alice[0]!, alice[2]!], none, noIds);
    expect(plan).toEqual({
      ok: false,
      error: "revision gap: the stream is at 1, this event is revision 3",
      event: alice[2],
    });
  });

  it("rejects a revision the stream holds under another id, and an id it holds at another revision", () => {
    const state = fold(alice.map(lift));
    const ids = new Map(alice.map((e) => [e.id, e.revision]));
    const at = new Map(alice.map((e) => [e.revision, e.id]));
    const other = { ...alice[2]!, id: "0f000000-0000-4000-8000-000000000000" };
    expect(planImport(state, [other], at, ids)).toMatchObject({
      ok: false,
      error: `revision 3 already holds another event (${alice[2]!.id})`,
    });
    const moved = { ...alice[1]!, revision: 4 };
    expect(planImport(state, [moved], at, ids)).toMatchObject({
      ok: false,
      error: `event ${alice[1]!.id} is already revision 2 of this user, not 4`,
    });
  });

  it("rejects one id at two revisions, or two events at one revision, within the lines", () => {
    expect(planImport(initialState, [alice[0]!, { ...alice[1]!, id: alice[0]!.id }], none, noIds)).toMatchObject({
      ok: false,
      error: /appears as revision 1 and 2/,
    });
    expect(planImport(initialState, [alice[0]!, { ...alice[1]!, revision: 1 }], none, noIds)).toMatchObject({
      ok: false,
      error: /revision 1 appears twice/,
    });
  });

  it("rejects a stream that does not start with USER_CREATED", () => {
    expect(planImport(initialState, [{ ...alice[1]!, revision: 1 }], none, noIds)).toMatchObject({
      ok: false,
      error: "USER_UPDATED before USER_CREATED",
    });
  });
});

describe("PASSWORD_REHASHED", () => {
  it("is decided only while the verified hash is still the user's, and only for a live user", () => {
    given(userCreated({ password_hash: "$2b$04$old" }))
      .when({ type: "RehashPassword", verified_hash: "$2b$04$old", new_password_hash: "pbkdf2-new" })
      .then({
        event_type: "PASSWORD_REHASHED",
        data: { password_hash: "pbkdf2-new", hashing_method: "pbkdf2-sha256" },
      });
    given(userCreated({ password_hash: "$2b$04$old" }))
      .when({ type: "RehashPassword", verified_hash: "$2b$04$other", new_password_hash: "pbkdf2-new" })
      .rejects({ code: "BusinessRuleViolated", rule: "password_rehash_stale" });
  });

  it("replaces the hash without touching updated_at: the user did not change", () => {
    const stream = record(userCreated({ password_hash: "$2b$04$old" }), {
      event_type: "PASSWORD_REHASHED",
      data: { password_hash: "pbkdf2-new", hashing_method: "pbkdf2-sha256" },
    });
    const before = fold(stream.slice(0, 1));
    const after = fold(stream);
    expect(after.revision).toBe(2);
    expect(after.user).toEqual({ ...before.user, password_hash: "pbkdf2-new" });
  });
});
