import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { PENDING_MS } from "../../src/write/identity-registry";
import { identityRegistry, shardFor } from "../../src/write/identity-shards";
import { createUser, expectOk, rejectionOf, revisions, send, settleAlarms, stubFor, update } from "./helpers";
import { createInput, uniqueName } from "../support/builders";

/** `count` distinct spellings of `value` that differ only in letter case. */
function caseVariants(value: string, count: number): string[] {
  const letters = [...value].map((c, i) => ({ c, i })).filter(({ c }) => c.toLowerCase() !== c.toUpperCase());
  const variants = Array.from({ length: count }, (_, n) =>
    [...value.toLowerCase()]
      .map((c, i) => {
        const bit = letters.findIndex((l) => l.i === i);
        return bit >= 0 && ((n >> bit) & 1) === 1 ? c.toUpperCase() : c;
      })
      .join(""),
  );
  if (new Set(variants).size !== count) throw new Error("not enough letters for distinct variants");
  return variants;
}

// The registry as the service reaches it: the key's shard (per-key objects before issue 26).
function registry(_key: string) {
  return identityRegistry(env);
}

/** Makes the key's claim look `ageMs` old, as if its owner had claimed it that long ago. */
function backdateClaim(key: string, ageMs: number) {
  return runInDurableObject(shardFor(env, key).stub, (_instance, state) => {
    state.storage.sql.exec("UPDATE claims SET claimed_at = ? WHERE key = ?", Date.now() - ageMs, key);
  });
}

// Creates schedule outbox alarms in many objects; `settleAlarms` runs them with
// `runDurableObjectAlarm` after each test so none leaks into the next.
describe("username and email are unique among live users, case-insensitively", () => {
  afterEach(settleAlarms);

  it("10 concurrent creates with one email in different cases: exactly one wins, the rest get IdentityTaken email", async () => {
    const emails = caseVariants(`race-${uniqueName("m")}@example.com`, 10);
    const attempts = emails.map((email) => ({ userId: crypto.randomUUID(), input: createInput({ email }) }));

    const results = await Promise.all(attempts.map(({ userId, input }) => send(userId, input)));

    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const loser of results.filter((r) => !r.ok)) {
      expect(rejectionOf(loser)).toMatchObject({ code: "IdentityTaken", field: "email" });
    }
    const streams = await Promise.all(attempts.map(({ userId }) => revisions(stubFor(userId))));
    expect(streams.filter((s) => s.length > 0)).toEqual([[1]]);

    // Losing the race left no reservation behind: each loser's username is still free.
    const loser = attempts.find((_, i) => !results[i]!.ok)!;
    expect(await send(crypto.randomUUID(), createInput({ username: loser.input.username }))).toMatchObject({
      ok: true,
    });
  });

  it("10 concurrent creates with one username in different cases: exactly one wins, the rest get IdentityTaken username", async () => {
    const usernames = caseVariants(uniqueName("race"), 10);
    const attempts = usernames.map((username) => ({
      userId: crypto.randomUUID(),
      input: createInput({ username, email: `${uniqueName("e")}@example.com` }),
    }));

    const results = await Promise.all(attempts.map(({ userId, input }) => send(userId, input)));

    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const loser of results.filter((r) => !r.ok)) {
      expect(rejectionOf(loser)).toMatchObject({ code: "IdentityTaken", field: "username" });
    }
    const streams = await Promise.all(attempts.map(({ userId }) => revisions(stubFor(userId))));
    expect(streams.filter((s) => s.length > 0)).toEqual([[1]]);

    const loser = attempts.find((_, i) => !results[i]!.ok)!;
    expect(await send(crypto.randomUUID(), createInput({ email: loser.input.email }))).toMatchObject({ ok: true });
  });

  it("a taken username or email is refused later too, in any case", async () => {
    const taken = await createUser();
    const byName = await send(crypto.randomUUID(), createInput({ username: taken.username.toUpperCase() }));
    expect(rejectionOf(byName)).toMatchObject({ code: "IdentityTaken", field: "username" });
    const byEmail = await send(crypto.randomUUID(), createInput({ email: taken.email.toUpperCase() }));
    expect(rejectionOf(byEmail)).toMatchObject({ code: "IdentityTaken", field: "email" });
  });

  it("a deleted user's username and email are free for a new user", async () => {
    const old = await createUser();
    expectOk(await send(old.userId, { type: "DeleteUser" }));

    const reused = await send(
      crypto.randomUUID(),
      createInput({ username: old.username.toUpperCase(), email: old.email }),
    );
    expect(reused).toMatchObject({ ok: true, revision: 1 });
  });

  it("an email change to a taken email is refused and appends nothing", async () => {
    const holder = await createUser();
    const mover = await createUser();

    const result = await update(mover.userId, { email: holder.email.toUpperCase() });
    expect(rejectionOf(result)).toMatchObject({ code: "IdentityTaken", field: "email" });
    expect(await revisions(mover.stub)).toEqual([1]);
    expect((await mover.stub.getUser()).user?.email).toBe(mover.email);
  });

  it("after an email change the old email is free again and the new one is taken", async () => {
    const mover = await createUser();
    const newEmail = `${uniqueName("moved")}@example.com`;
    expectOk(await update(mover.userId, { email: newEmail }));

    expect(await send(crypto.randomUUID(), createInput({ email: mover.email }))).toMatchObject({ ok: true });
    const clash = await send(crypto.randomUUID(), createInput({ email: newEmail }));
    expect(rejectionOf(clash)).toMatchObject({ code: "IdentityTaken", field: "email" });
  });

  it("two users racing to change to the same email: exactly one gets it", async () => {
    const a = await createUser();
    const b = await createUser();
    const wanted = `${uniqueName("contested")}@example.com`;

    const results = await Promise.all([
      update(a.userId, { email: wanted }),
      update(b.userId, { email: wanted.toUpperCase() }),
    ]);

    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(rejectionOf(results.find((r) => !r.ok)!)).toMatchObject({ code: "IdentityTaken", field: "email" });
    const revs = [await revisions(a.stub), await revisions(b.stub)];
    expect(revs.map((r) => r.length).sort()).toEqual([1, 2]);
  });
});

describe("a reservation whose owner never appends cannot block a name forever", () => {
  afterEach(settleAlarms);

  it("another owner is refused while the claim is pending and accepted once it is older than PENDING_MS", async () => {
    const key = identityKey("username", uniqueName("crash"));
    const crashed = crypto.randomUUID();
    const other = crypto.randomUUID();

    expect(await registry(key).claim(key, crashed)).toBe(true);
    expect(await registry(key).claim(key, other)).toBe(false);
    // The owner itself may claim again (a retry of its own command).
    expect(await registry(key).claim(key, crashed)).toBe(true);

    await backdateClaim(key, PENDING_MS - 1_000);
    expect(await registry(key).claim(key, other)).toBe(false);

    await backdateClaim(key, PENDING_MS + 1);
    expect(await registry(key).claim(key, other)).toBe(true);
    // Now the new owner's claim is the pending one.
    expect(await registry(key).claim(key, crashed)).toBe(false);
  });

  it("a create blocked by an abandoned reservation succeeds once the reservation has expired", async () => {
    const username = uniqueName("blocked");
    const key = identityKey("username", username);
    expect(await registry(key).claim(key, crypto.randomUUID())).toBe(true);

    const userId = crypto.randomUUID();
    const blocked = await send(userId, createInput({ username }));
    expect(rejectionOf(blocked)).toMatchObject({ code: "IdentityTaken", field: "username" });
    expect(await revisions(stubFor(userId))).toEqual([]);

    await backdateClaim(key, PENDING_MS + 1);
    expect(await send(userId, createInput({ username }))).toMatchObject({ ok: true, revision: 1 });
    expect(await registry(key).holder(key)).toBe(userId);
  });

  it("an old claim whose owner holds the name in its stream still refuses everyone else", async () => {
    const owner = await createUser();
    const key = identityKey("username", owner.username);
    await backdateClaim(key, 24 * 60 * 60 * 1000);

    expect(await registry(key).claim(key, crypto.randomUUID())).toBe(false);
    const clash = await send(crypto.randomUUID(), createInput({ username: owner.username }));
    expect(rejectionOf(clash)).toMatchObject({ code: "IdentityTaken", field: "username" });
    expect(await registry(key).holder(key)).toBe(owner.userId);
  });
});
