import { afterEach, describe, expect, it } from "vitest";
import type { CommandResult } from "../../src/write/protocol";
import {
  createUser,
  expectOk,
  published,
  rejectionOf,
  revisions,
  send,
  settleAlarms,
  stubFor,
  tables,
  update,
} from "./helpers";
import { PASSWORD, createInput, uniqueName } from "../support/builders";

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function withoutReplayed(result: CommandResult) {
  if (!result.ok) return result;
  const { replayed: _replayed, ...rest } = result;
  return rest;
}

// Each command schedules the outbox alarm; `settleAlarms` runs what is left with
// `runDurableObjectAlarm` after every test so nothing leaks into the next one.
describe("concurrent writes to one user", () => {
  afterEach(settleAlarms);

  it("50 concurrent updates all succeed, with contiguous revisions 2..51 and none lost", async () => {
    const { userId, stub } = await createUser();
    const names = range(1, 50).map((i) => `name-${i}`);

    const results = (await Promise.all(names.map((first_name) => update(userId, { first_name })))).map(expectOk);

    expect(results.map((r) => r.revision).sort((a, b) => a - b)).toEqual(range(2, 51));
    expect(await revisions(stub)).toEqual(range(1, 51));
    const stream = await stub.readStream(1, 100);
    expect(stream.map((e) => e.revision)).toEqual(range(1, 51));
    const written = stream.slice(1).map((e) => (e.event_type === "USER_UPDATED" ? e.data.first_name : undefined));
    expect([...written].sort()).toEqual([...names].sort());
    // The object's state is the fold of all of them: the last appended update wins.
    const current = await stub.getUser();
    expect(current.revision).toBe(51);
    expect(current.user?.first_name).toBe(written[written.length - 1]);
  });

  it("a stale expectedRevision is refused with the current revision and appends nothing", async () => {
    const { userId, stub } = await createUser();
    expectOk(await update(userId, { first_name: "Two" }));
    expectOk(await update(userId, { first_name: "Three" }));
    await published(stub);
    const before = await tables(stub);

    const stale = await update(userId, { first_name: "Stale" }, { expectedRevision: 1 });
    expect(rejectionOf(stale)).toEqual({ code: "RevisionMismatch", current_revision: 3 });
    const ahead = await send(userId, { type: "DeleteUser" }, { expectedRevision: 4 });
    expect(rejectionOf(ahead)).toEqual({ code: "RevisionMismatch", current_revision: 3 });
    expect((await tables(stub)).all).toEqual(before.all);

    expect(await update(userId, { first_name: "Fresh" }, { expectedRevision: 3 })).toMatchObject({
      ok: true,
      revision: 4,
    });
  });

  it("of 10 concurrent updates expecting the same revision exactly one applies", async () => {
    const { userId, stub } = await createUser();
    const results = await Promise.all(
      range(1, 10).map((i) => update(userId, { first_name: `racer-${i}` }, { expectedRevision: 1 })),
    );

    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ revision: 2 });
    for (const loser of results.filter((r) => !r.ok)) {
      expect(rejectionOf(loser)).toEqual({ code: "RevisionMismatch", current_revision: 2 });
    }
    expect(await revisions(stub)).toEqual([1, 2]);
  });

  it("mixed concurrent commands: every ok result is one event, every rejection none", async () => {
    const { userId, stub, email } = await createUser();
    const results = await Promise.all([
      update(userId, { email: `new-${email}` }),
      update(userId, { last_name: "Concurrent" }),
      send(userId, { type: "SuspendUser" }),
      send(userId, { type: "DeleteUser" }),
      update(userId, { first_name: "After" }),
      send(userId, { type: "ReactivateUser" }),
    ]);
    const ok = results.filter((r) => r.ok).map(expectOk);
    const { events, outbox } = await tables(stub);
    expect(events.map((e) => e.revision)).toEqual(range(1, 1 + ok.length));
    expect(ok.map((r) => r.revision).sort((a, b) => a - b)).toEqual(range(2, 1 + ok.length));
    // The outbox can only hold appended events (the alarm may already have published some).
    for (const row of outbox) expect(events.map((e) => e.revision)).toContain(row.revision);
    expect((await stub.getUser()).revision).toBe(1 + ok.length);
  });
});

describe("concurrent email changes to one user", () => {
  afterEach(settleAlarms);

  // API.md: "Concurrent writes give 200s (or 412 with If-Match)"; without If-Match the last writer wins.
  it("10 concurrent email changes to distinct free emails all apply, last writer wins", async () => {
    const { userId, stub } = await createUser();
    const emails = range(1, 10).map(() => `${uniqueName("many")}@example.com`);

    const results = await Promise.all(emails.map((email) => update(userId, { email })));

    expect(results.map((r) => (r.ok ? "ok" : r.rejection.code))).toEqual(emails.map(() => "ok"));
    const current = await stub.getUser();
    expect(current.revision).toBe(11);
    expect(emails).toContain(current.user?.email);
  });

  it("whatever the outcome, every email the user does not end up with is free for someone else at once", async () => {
    const { userId, stub, email } = await createUser();
    const emails = range(1, 10).map(() => `${uniqueName("spare")}@example.com`);

    await Promise.all(emails.map((e) => update(userId, { email: e })));

    const final = (await stub.getUser()).user?.email;
    const outcomes: Record<string, string> = {};
    for (const free of [email, ...emails].filter((e) => e !== final)) {
      const result = await send(crypto.randomUUID(), createInput({ email: free, password: PASSWORD }));
      outcomes[free] = result.ok ? "ok" : result.rejection.code;
    }
    expect(
      Object.values(outcomes).every((o) => o === "ok"),
      JSON.stringify(outcomes),
    ).toBe(true);
  });
});

describe("idempotent retries", () => {
  afterEach(settleAlarms);

  it("the same key and fingerprint retried 10 times appends one event and replays the first result", async () => {
    const { userId, stub } = await createUser();
    const idempotency = { key: crypto.randomUUID(), fingerprint: "fp-update-1" };

    const results: CommandResult[] = [];
    for (let i = 0; i < 10; i++) results.push(await update(userId, { first_name: "Once" }, { idempotency }));

    const first = expectOk(results[0]!);
    expect(first).toEqual({ ok: true, userId, revision: 2, replayed: false });
    for (const retry of results.slice(1)) expect(retry).toEqual({ ...first, replayed: true });
    const { events, idempotency: records } = await tables(stub);
    expect(events.map((e) => e.revision)).toEqual([1, 2]);
    // Scoped by the caller (none here: metadata() has no actor).
    expect(records.map((r) => r.key)).toEqual([`anonymous\n${idempotency.key}`]);
  });

  it("a replay wins over a stale expectedRevision: the retry of an applied write is still its answer", async () => {
    const { userId, stub } = await createUser();
    const idempotency = { key: crypto.randomUUID(), fingerprint: "fp" };
    const first = expectOk(await update(userId, { first_name: "X" }, { idempotency, expectedRevision: 1 }));
    expect(await update(userId, { first_name: "X" }, { idempotency, expectedRevision: 1 })).toEqual({
      ...first,
      replayed: true,
    });
    expect(await revisions(stub)).toEqual([1, 2]);
  });

  it("10 concurrent retries of a create append one event; one result is fresh, the rest replay it", async () => {
    const userId = crypto.randomUUID();
    const input = createInput();
    const idempotency = { key: crypto.randomUUID(), fingerprint: "fp-create" };

    const results = (await Promise.all(range(1, 10).map(() => send(userId, input, { idempotency })))).map(expectOk);

    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    for (const result of results) expect(withoutReplayed(result)).toEqual({ ok: true, userId, revision: 1 });
    const { events, idempotency: records } = await tables(stubFor(userId));
    expect(events.map((e) => e.event_type)).toEqual(["USER_CREATED"]);
    expect(records).toHaveLength(1);
  });

  it("10 concurrent retries of an update append one event", async () => {
    const { userId, stub } = await createUser();
    const idempotency = { key: crypto.randomUUID(), fingerprint: "fp-concurrent-update" };

    const results = (
      await Promise.all(range(1, 10).map(() => update(userId, { last_name: "Retried" }, { idempotency })))
    ).map(expectOk);

    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    for (const result of results) expect(withoutReplayed(result)).toEqual({ ok: true, userId, revision: 2 });
    expect(await revisions(stub)).toEqual([1, 2]);
  });

  it("the same key with another fingerprint is refused and appends nothing", async () => {
    const { userId, stub } = await createUser();
    const key = crypto.randomUUID();
    expectOk(await update(userId, { first_name: "Original" }, { idempotency: { key, fingerprint: "fp-a" } }));
    await published(stub);
    const before = await tables(stub);

    const reused = await update(userId, { first_name: "Other body" }, { idempotency: { key, fingerprint: "fp-b" } });
    expect(rejectionOf(reused)).toEqual({ code: "IdempotencyKeyReused" });
    expect((await tables(stub)).all).toEqual(before.all);
    expect((await stub.getUser()).user?.first_name).toBe("Original");
  });

  it("one key sent concurrently with two fingerprints: one body applies, the other is refused", async () => {
    const { userId, stub } = await createUser();
    const key = crypto.randomUUID();
    const results = await Promise.all(
      range(1, 10).map((i) => {
        const fingerprint = i % 2 === 0 ? "fp-even" : "fp-odd";
        return update(userId, { first_name: fingerprint }, { idempotency: { key, fingerprint } });
      }),
    );
    expect(await revisions(stub)).toEqual([1, 2]);
    const applied = (await stub.getUser()).user?.first_name;
    results.forEach((result, index) => {
      const fingerprint = (index + 1) % 2 === 0 ? "fp-even" : "fp-odd";
      if (fingerprint === applied) expect(withoutReplayed(result)).toEqual({ ok: true, userId, revision: 2 });
      else expect(result).toEqual({ ok: false, rejection: { code: "IdempotencyKeyReused" } });
    });
  });
});
