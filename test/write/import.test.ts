import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { identityRegistry, shardFor } from "../../src/write/identity-shards";
import { getMeta } from "../../src/write/event-store";
import { confirmedRevision } from "../../src/write/ledger";
import { IMPORT_SAFETY_NET_MS } from "../../src/write/publisher";
import { PENDING_MS } from "../../src/write/identity-registry";
import { IMPORT_RETURNS_STREAM_UP_TO } from "../../src/write/stream-import";
import referenceRows from "../fixtures/reference-rows.ndjson?raw";
import { FIXTURE, IMPORT_REQUEST_ID, renamed, storedEvents } from "../support/import-fixtures";
import { createInput, uniqueName } from "../support/builders";
import {
  claimRows,
  expectOk,
  directoryHas,
  update,
  importInto,
  rejectionOf,
  send,
  settleAlarms,
  storedHashes,
  stubFor,
  tables,
} from "./helpers";
import { readDb } from "../support/shards";

/** The import at the Durable Object: one user's events in, appended whole or not at all. */

function fixture() {
  const suffix = uniqueName("s");
  const users = renamed(storedEvents(referenceRows), suffix);
  const [alice, bob, bob2, carol] = [...users.values()];
  return { suffix, alice: alice!, bob: bob!, bob2: bob2!, carol: carol! };
}

describe("importing one user's events into its object", () => {
  afterEach(settleAlarms);

  it("keeps ids, revisions, versions and times, marks the events imported, and answers the stream to project", async () => {
    const { alice } = fixture();
    const result = await importInto(alice);
    expect(result).toMatchObject({ ok: true, imported: 3, skipped: 0 });
    const stub = stubFor(alice[0]!.aggregate_id);
    const { events, outbox } = await tables(stub);
    expect(events.map((row) => [row.revision, row.id, row.event_type, row.version, row.timestamp])).toEqual(
      alice.map((e) => [e.revision, e.id, e.event_type, e.version, e.timestamp]),
    );
    // Nothing announced nor sent: the request projects them (src/admin/import.ts), not the queue.
    const ledger = await readDb(alice[0]!.aggregate_id)
      .prepare("SELECT published_revision FROM streams WHERE user_id = ?")
      .bind(alice[0]!.aggregate_id)
      .first();
    expect(ledger).toBeNull();
    // Owed to the read side until it confirms them, as sent: the alarm re-publishes only if it does not.
    expect(outbox.map((row) => [row.revision, row.sent_at !== null])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    const stream = await stub.readStream(1, 10);
    expect(result.ok && result.stream).toEqual(stream);
    expect(stream.map((e) => e.metadata.import_request_id)).toEqual(Array(3).fill(IMPORT_REQUEST_ID));
    expect(stream[1]!.data).toEqual({ first_name: "Alicia" });
    expect(JSON.stringify(stream)).not.toContain("$2b$");
    const { user } = await stub.getUser();
    expect(user).toMatchObject({ first_name: "Alicia", last_name: "Liddell", created_at: alice[0]!.timestamp });
  });

  it("arms its publish safety net minutes out, not seconds: a lagging read side must not keep waking every imported user", async () => {
    const { alice } = fixture();
    const before = Date.now();
    succeeded(await importInto(alice));
    const alarm = await runInDurableObject(stubFor(alice[0]!.aggregate_id), (_instance, state) =>
      state.storage.getAlarm(),
    );
    expect(alarm).toBeGreaterThanOrEqual(before + IMPORT_SAFETY_NET_MS);
  });

  it("if the request never projects them, re-publishes them after the safety net's wait, registering the user, then backs off", async () => {
    const { alice } = fixture();
    const userId = alice[0]!.aggregate_id;
    const stub = stubFor(userId);
    // The import's object call alone: the request that made it died before registering and projecting.
    succeeded(await importInto(alice));
    expect(await directoryHas(userId)).toBe(false);
    const sentAgo = (ms: number) =>
      runInDurableObject(stub, (_i, state) => state.storage.sql.exec("UPDATE outbox SET sent_at = ?", Date.now() - ms));
    const republished = () => runInDurableObject(stub, (_i, state) => getMeta(state.storage.sql, "republished") ?? "0");

    // 4 minutes ago: a command's rows would be re-published (after 5 s); an import's wait.
    await sentAgo(4 * 60_000);
    const before = Date.now();
    await runDurableObjectAlarm(stub);
    expect(await republished()).toBe("0");
    const next = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThanOrEqual(before + IMPORT_SAFETY_NET_MS / 2);

    // Past the safety net's wait: sent through the queue, the user registered, and the read side has them.
    await sentAgo(IMPORT_SAFETY_NET_MS + 1_000);
    await runDurableObjectAlarm(stub);
    expect(await republished()).toBe("1");
    expect(await directoryHas(userId)).toBe(true);
    await vi.waitUntil(async () => (await confirmedRevision(readDb(userId), userId)) === 3, {
      timeout: 20_000,
      interval: 50,
    });
  });

  it("a user whose request died before registering it is registered by its next command's publish", async () => {
    const { alice } = fixture();
    const userId = alice[0]!.aggregate_id;
    succeeded(await importInto(alice));
    expectOk(await update(userId, { first_name: "Later" }));
    await vi.waitUntil(() => directoryHas(userId), { timeout: 10_000, interval: 50 });
  });

  it("answers no stream when it is longer than an answer should carry: the request reads it page by page", async () => {
    const { alice } = fixture();
    const [created, updated] = [alice[0]!, alice[1]!];
    const t0 = Date.parse(updated.timestamp);
    const updates = Array.from({ length: IMPORT_RETURNS_STREAM_UP_TO }, (_, i) => ({
      ...updated,
      id: crypto.randomUUID(),
      revision: i + 2,
      timestamp: new Date(t0 + i * 1000).toISOString(),
      data: { first_name: `F${i}` },
    }));
    const result = await importInto([created, ...updates]);
    expect(result).toMatchObject({ ok: true, imported: IMPORT_RETURNS_STREAM_UP_TO + 1, stream: null });
  });

  it("a second import of the same events changes nothing", async () => {
    const { alice } = fixture();
    succeeded(await importInto(alice));
    const stub = stubFor(alice[0]!.aggregate_id);
    await settleAlarms();
    const before = await tables(stub);
    expect(await importInto(alice)).toMatchObject({ ok: true, imported: 0, skipped: 3, stream: null });
    expect((await tables(stub)).all).toEqual(before.all);
  });

  it("continues a stream from where an earlier import stopped", async () => {
    const { alice } = fixture();
    expect(await importInto(alice.slice(0, 1))).toMatchObject({ ok: true, imported: 1, skipped: 0 });
    expect(await importInto(alice)).toMatchObject({ ok: true, imported: 2, skipped: 1 });
    // Onto a stream already there, whose tokens the read model checks against the announced
    // revision (decision 0018): announced before the answer, as a command's events are.
    const userId = alice[0]!.aggregate_id;
    const ledger = await readDb(userId)
      .prepare("SELECT published_revision AS p FROM streams WHERE user_id = ?")
      .bind(userId)
      .first<{ p: number }>();
    expect(ledger?.p).toBe(3);
  });

  it("claims the username and email the user ends with, like a command would", async () => {
    const { alice, carol, suffix } = fixture();
    succeeded(await importInto(alice));
    succeeded(await importInto(carol));
    const taken = await send(crypto.randomUUID(), createInput({ username: `ALICE-${suffix}` }));
    expect(rejectionOf(taken)).toMatchObject({ code: "IdentityTaken", field: "username" });
    // Carol's email changed in her history: the old one is free, the new one is hers.
    expectOk(await send(crypto.randomUUID(), createInput({ email: `carol-${suffix}@example.com` })));
    const newEmail = await send(crypto.randomUUID(), createInput({ email: `carol-${suffix}@marvel.example.com` }));
    expect(rejectionOf(newEmail)).toMatchObject({ code: "IdentityTaken", field: "email" });
  });

  it("a deleted user holds no name: a later user takes it, in the import as by a command", async () => {
    const { bob, bob2, suffix } = fixture();
    succeeded(await importInto(bob));
    succeeded(await importInto(bob2));
    // bob2 now holds "Bob-…" (the same name, case aside): a command cannot take it.
    const taken = await send(crypto.randomUUID(), createInput({ username: `bob-${suffix}` }));
    expect(rejectionOf(taken)).toMatchObject({ code: "IdentityTaken", field: "username" });
    // Bob's email went with his deletion.
    expectOk(await send(crypto.randomUUID(), createInput({ email: `bob-${suffix}@example.com` })));
  });

  it("rejects a user whose name another live user holds, and writes nothing", async () => {
    const { alice, suffix } = fixture();
    const holder = await send(crypto.randomUUID(), createInput({ username: `alice-${suffix}` }));
    expectOk(holder);
    const result = await importInto(alice);
    expect(result).toEqual({
      ok: false,
      error: `username 'alice-${suffix}' is taken by another user`,
      eventId: alice[0]!.id,
    });
    expect((await tables(stubFor(alice[0]!.aggregate_id))).events).toEqual([]);
  });

  it("rejects a gap or a conflicting event, and writes nothing", async () => {
    const { alice } = fixture();
    expect(await importInto([alice[0]!, alice[2]!])).toMatchObject({ ok: false, eventId: alice[2]!.id });
    succeeded(await importInto(alice.slice(0, 2)));
    const conflicting = { ...alice[2]!, id: crypto.randomUUID(), revision: 2 };
    expect(await importInto([conflicting])).toMatchObject({ ok: false, error: /revision 2 already holds/ });
    expect((await tables(stubFor(alice[0]!.aggregate_id))).events).toHaveLength(2);
  });
});

describe("names the import request claimed for its users", () => {
  afterEach(settleAlarms);

  const keysOf = (suffix: string) => [
    identityKey("username", `alice-${suffix}`),
    identityKey("email", `alice-${suffix}@example.com`),
  ];

  it("are used as they are when they are what the user ends up holding: the object claims nothing again", async () => {
    const { alice, suffix } = fixture();
    const userId = alice[0]!.aggregate_id;
    const keys = keysOf(suffix);
    expect(await identityRegistry(env).claimEach(keys.map((key) => ({ key, owner: userId })))).toEqual([true, true]);
    // Marked with a time no claim carries: a claim made again would write the present one.
    for (const key of keys) {
      await runInDurableObject(shardFor(env, key).stub, (_i, state) =>
        state.storage.sql.exec("UPDATE claims SET claimed_at = 1 WHERE key = ?", key),
      );
    }
    succeeded(await importInto(alice, { ontoExisting: false, claimed: { keys, at: Date.now() } }));
    for (const key of keys) expect(await claimRows(key)).toMatchObject([{ owner: userId, claimed_at: 1 }]);
    const taken = await send(crypto.randomUUID(), createInput({ username: `alice-${suffix}` }));
    expect(rejectionOf(taken)).toMatchObject({ code: "IdentityTaken", field: "username" });
  });

  it("are not trusted once past half their reservation: the object claims them again", async () => {
    const { alice, suffix } = fixture();
    const userId = alice[0]!.aggregate_id;
    const keys = keysOf(suffix);
    await identityRegistry(env).claimEach(keys.map((key) => ({ key, owner: userId })));
    for (const key of keys) {
      await runInDurableObject(shardFor(env, key).stub, (_i, state) =>
        state.storage.sql.exec("UPDATE claims SET claimed_at = 1 WHERE key = ?", key),
      );
    }
    // Made PENDING_MS / 2 ago: someone may take a reservation over once it is PENDING_MS old, and
    // the user's stream does not hold the name yet.
    succeeded(await importInto(alice, { ontoExisting: false, claimed: { keys, at: Date.now() - PENDING_MS / 2 } }));
    for (const key of keys) expect((await claimRows(key))[0]!.claimed_at).toBeGreaterThan(1);
  });

  it("an import onto an erased user forgets the names the request claimed from the old file", async () => {
    const { alice, suffix } = fixture();
    const userId = alice[0]!.aggregate_id;
    succeeded(await importInto(alice));
    expectOk(await send(userId, { type: "EraseUser" }));
    // The erasure ledger has not told the request yet: it claims the old file's names for the user.
    const keys = keysOf(suffix);
    expect(await identityRegistry(env).claimEach(keys.map((key) => ({ key, owner: userId })))).toEqual([true, true]);
    expect(await importInto(alice, { ontoExisting: false, claimed: { keys, at: Date.now() } })).toMatchObject({
      ok: true,
      imported: 0,
    });
    for (const key of keys) expect(await claimRows(key)).toEqual([]);
  });

  it("are let go when the object refuses the user", async () => {
    const { alice, suffix } = fixture();
    const userId = alice[0]!.aggregate_id;
    const keys = keysOf(suffix);
    await identityRegistry(env).claimEach(keys.map((key) => ({ key, owner: userId })));
    // A gap: refused before the object claims anything itself.
    const refused = await importInto([alice[0]!, alice[2]!], {
      ontoExisting: false,
      claimed: { keys, at: Date.now() },
    });
    expect(refused).toMatchObject({ ok: false, eventId: alice[2]!.id });
    for (const key of keys) expect(await claimRows(key)).toMatchObject([{ key, owner: userId, claimed_at: 0 }]);
    // Released: another user takes the name at once.
    expectOk(await send(crypto.randomUUID(), createInput({ username: `alice-${suffix}` })));
  });
});

describe("an imported erasure", () => {
  afterEach(settleAlarms);

  /** The tables this service stored in an object (miniflare adds its own `__miniflare_…` to every one). */
  function ourTables(stub: DurableObjectStub): Promise<string[]> {
    return runInDurableObject(stub, (_instance, state) =>
      state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray()
        .map((row) => row.name)
        .filter((name) => !name.startsWith("__miniflare") && !name.startsWith("_cf_")),
    );
  }

  it("forgets the user's names like a command's erasure: no registry storage named after them stays", async () => {
    const { alice, suffix } = fixture();
    succeeded(await importInto(alice));
    const userId = alice[0]!.aggregate_id;
    const keys = [identityKey("username", `alice-${suffix}`), identityKey("email", `alice-${suffix}@example.com`)];
    for (const key of keys) expect(await claimRows(key)).toMatchObject([{ key, owner: userId }]);
    const admin = crypto.randomUUID();
    const erasure = {
      ...alice[2]!,
      id: crypto.randomUUID(),
      event_type: "USER_ERASED" as const,
      version: 1,
      timestamp: new Date(Date.parse(alice[2]!.timestamp) + 60_000).toISOString(),
      revision: 4,
      data: {},
      metadata: { ...alice[2]!.metadata, actor_id: admin, actor_username: "the-admin" },
    };
    expect(await importInto([erasure])).toMatchObject({ ok: true, imported: 1, skipped: 0 });
    for (const key of keys) {
      expect(await claimRows(key)).toEqual([]);
      expect(await ourTables(env.IDENTITY_REGISTRY.getByName(key))).toEqual([]);
    }
    // And the stream keeps nothing of the user, as after a command's erasure: the tombstone's admin stays.
    const stored = JSON.stringify((await tables(stubFor(userId))).all);
    expect(stored).not.toContain(suffix);
    expect(stored).toContain("the-admin");
    // The names are free for anyone.
    expectOk(
      await send(
        crypto.randomUUID(),
        createInput({ username: `alice-${suffix}`, email: `alice-${suffix}@example.com` }),
      ),
    );
  });
});

describe("logging in with an imported bcrypt hash", () => {
  afterEach(settleAlarms);

  it("verifies the bcrypt hash, then replaces it by our own with PASSWORD_REHASHED, once", async () => {
    const { alice } = fixture();
    succeeded(await importInto(alice));
    const stub = stubFor(alice[0]!.aggregate_id);
    expect(await stub.authenticate(FIXTURE.alice.oldPassword)).toEqual({ ok: false, reason: "invalid" });
    // PASSWORD_REHASHED at 4, then the login itself at 5.
    const requestId = crypto.randomUUID();
    expect(await stub.authenticate(FIXTURE.alice.password, requestId)).toMatchObject({ ok: true, revision: 5 });
    const stream = await stub.readStream(1, 10);
    // Both events of the login carry its request id: the upgrade is traceable to the login.
    expect(stream[3]).toMatchObject({
      event_type: "PASSWORD_REHASHED",
      revision: 4,
      data: { hashing_method: "pbkdf2-sha256" },
      metadata: { actor_id: alice[0]!.aggregate_id, request_id: requestId },
    });
    expect(stream[4]!.metadata.request_id).toBe(requestId);
    expect(stream[3]!.data).not.toHaveProperty("password_hash");
    const { all } = await tables(stub);
    expect(storedHashes(all)).toHaveLength(1);
    // The user did not change: updated_at stays the last imported event's time.
    expect((await stub.getUser()).user).toMatchObject({ revision: 5, updated_at: alice[2]!.timestamp });
    expect(stream.map((event) => event.event_type).slice(3)).toEqual(["PASSWORD_REHASHED", "USER_LOGGED_IN"]);
    // Rehashed once: the next login records only itself.
    expect(await stub.authenticate(FIXTURE.alice.password)).toMatchObject({ ok: true, revision: 6 });
    expect(await stub.authenticate(FIXTURE.alice.oldPassword)).toEqual({ ok: false, reason: "invalid" });
  });
});

function succeeded(result: Awaited<ReturnType<typeof importInto>>) {
  if (!result.ok) throw new Error(`import failed: ${result.error}`);
  return result;
}
