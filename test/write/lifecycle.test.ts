import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { setMeta } from "../../src/write/event-store";
import { MAX_FAILURES, WINDOW_MS } from "../../src/write/login-throttle";
import { MIGRATIONS, SCHEMA_STEPS } from "../../src/write/schema";
import type { LoginResult } from "../../src/write/protocol";
import { createUser, expectOk, rejectionOf, send, settleAlarms, stubFor, update } from "./helpers";
import { PASSWORD } from "../support/builders";

// Commands schedule outbox alarms; `settleAlarms` runs them with `runDurableObjectAlarm` after each
// test so no flush leaks into the next one.
describe("cold start", () => {
  afterEach(settleAlarms);

  it("an evicted object rehydrates the same user and revision from its stream", async () => {
    const { userId, stub, email } = await createUser();
    expectOk(await update(userId, { first_name: "Grace", last_name: "Hopper" }));
    expectOk(await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "rehydrated-1" }));
    expectOk(await send(userId, { type: "SuspendUser" }));
    expectOk(await send(userId, { type: "ReactivateUser" }));
    expectOk(await update(userId, { email: `new-${email}` }));
    const before = await stub.getUser();
    const streamBefore = await stub.readStream(1, 100);
    expect(before.revision).toBe(6);
    const instanceBefore = await runInDurableObject(stub, (instance) => instance);

    await evictDurableObject(stub);

    // A fresh instance, not the one that executed the commands.
    const fresh = stubFor(userId);
    expect(await runInDurableObject(fresh, (instance) => instance === instanceBefore)).toBe(false);
    expect(await fresh.getUser()).toEqual(before);
    expect(before.user).toMatchObject({
      first_name: "Grace",
      last_name: "Hopper",
      email: `new-${email}`,
      status: "active",
    });
    expect(await fresh.readStream(1, 100)).toEqual(streamBefore);
    // The password hash came back from the stream too, and the next command continues the stream.
    // The login is an event of its own: revision 7.
    expect(await fresh.authenticate("rehydrated-1")).toMatchObject({ ok: true, revision: 7 });
    expect(await update(userId, { first_name: "Next" })).toMatchObject({ ok: true, revision: 8 });
  });

  it("a long stream (past the snapshot interval) rehydrates to the same state", async () => {
    const { userId, stub } = await createUser();
    for (let i = 1; i <= 104; i++)
      expectOk(await update(userId, i % 2 === 0 ? { first_name: `f${i}` } : { last_name: `l${i}` }));
    expectOk(await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "after-many-1" }));
    const before = await stub.getUser();
    expect(before.revision).toBe(106);
    expect(before.user).toMatchObject({ first_name: "f104", last_name: "l103" });

    await evictDurableObject(stub);

    const fresh = stubFor(userId);
    expect(await fresh.getUser()).toEqual(before);
    expect(await fresh.authenticate("after-many-1")).toMatchObject({ ok: true, revision: 107 });
    expect(await update(userId, { first_name: "Next" })).toMatchObject({ ok: true, revision: 108 });
  });

  it("a deleted user stays deleted after a cold start", async () => {
    const { userId, stub } = await createUser();
    expectOk(await send(userId, { type: "DeleteUser" }));
    const before = await stub.getUser();
    await evictDurableObject(stub);
    const after = await stubFor(userId).getUser();
    expect(after).toEqual(before);
    expect(after.user?.status).toBe("deleted");
    expect(rejectionOf(await update(userId, { first_name: "Zombie" }))).toMatchObject({ code: "BusinessRuleViolated" });
  });

  it("the stream leaving the object carries no password hash", async () => {
    const { userId, stub } = await createUser();
    expectOk(await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "another-one-2" }));
    const stream = await stub.readStream(1, 100);
    expect(stream.map((e) => e.event_type)).toEqual(["USER_CREATED", "PASSWORD_CHANGED"]);
    expect(JSON.stringify(stream)).not.toContain("password_hash");
    expect(JSON.stringify(await stub.getUser())).not.toContain("pbkdf2");
  });
});

describe("authenticate", () => {
  afterEach(settleAlarms);

  it("accepts the right password, records USER_LOGGED_IN, and returns the user as of that event", async () => {
    const { stub, userId, username } = await createUser();
    const requestId = crypto.randomUUID();
    const result = await stub.authenticate(PASSWORD, requestId);
    expect(result).toMatchObject({ ok: true, revision: 2, user: { id: userId, username, status: "active" } });
    expect(JSON.stringify(result)).not.toContain("password_hash");
    const [, login] = await stub.readStream(1, 10);
    expect(login).toMatchObject({
      event_type: "USER_LOGGED_IN",
      revision: 2,
      data: { method: "password" },
      metadata: { actor_id: userId, actor_username: username, request_id: requestId },
    });
    if (!result.ok) throw new Error("login failed");
    expect(result.user.last_login_at).toBe(login?.timestamp);
  });

  it("records nothing for a failed login, and creates nothing for a user that does not exist", async () => {
    const { stub } = await createUser();
    await stub.authenticate("wrong-password");
    expect((await stub.readStream(1, 10)).map((e) => e.event_type)).toEqual(["USER_CREATED"]);
    const ghost = stubFor(crypto.randomUUID());
    await ghost.authenticate(PASSWORD);
    expect(
      await runInDurableObject(ghost, (_i, state) =>
        state.storage.sql.exec("SELECT name FROM sqlite_master").toArray(),
      ),
    ).toEqual([]);
  });

  it("answers 'invalid' for a wrong password and for a user that does not exist", async () => {
    const { stub } = await createUser();
    expect(await stub.authenticate("wrong-password")).toEqual({ ok: false, reason: "invalid" });
    expect(await stub.authenticate("")).toEqual({ ok: false, reason: "invalid" });
    expect(await stubFor(crypto.randomUUID()).authenticate(PASSWORD)).toEqual({ ok: false, reason: "invalid" });
  });

  it(`after ${MAX_FAILURES} failures answers 'throttled', even for the right password`, async () => {
    const { stub } = await createUser();
    for (let i = 0; i < MAX_FAILURES; i++)
      expect(await stub.authenticate(`wrong-${i}`)).toEqual({ ok: false, reason: "invalid" });

    const throttled = await stub.authenticate(PASSWORD);
    expect(throttled).toMatchObject({ ok: false, reason: "throttled" });
    const retryAfter = (throttled as Extract<LoginResult, { reason: "throttled" }>).retryAfterSeconds;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000);
  });

  it("the throttle lifts once the window has passed", async () => {
    const { stub } = await createUser();
    for (let i = 0; i < MAX_FAILURES; i++) await stub.authenticate(`wrong-${i}`);
    expect(await stub.authenticate(PASSWORD)).toMatchObject({ reason: "throttled" });
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE login_failures SET at = at - ?", WINDOW_MS);
    });
    expect(await stub.authenticate(PASSWORD)).toMatchObject({ ok: true });
  });

  it("a successful login resets the failure count", async () => {
    const { stub } = await createUser();
    for (let i = 0; i < MAX_FAILURES - 1; i++) await stub.authenticate(`wrong-${i}`);
    expect(await stub.authenticate(PASSWORD)).toMatchObject({ ok: true });
    for (let i = 0; i < MAX_FAILURES - 1; i++)
      expect(await stub.authenticate(`again-${i}`)).toEqual({ ok: false, reason: "invalid" });
    expect(await stub.authenticate(PASSWORD)).toMatchObject({ ok: true });
  });

  it("concurrent wrong guesses cannot get past the limit", async () => {
    const { stub } = await createUser();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stub.authenticate(`guess-${i}`)));
    expect(results.filter((r) => !r.ok && r.reason === "invalid").length).toBeLessThanOrEqual(MAX_FAILURES);
    expect(await stub.authenticate(PASSWORD)).toMatchObject({ reason: "throttled" });
  });

  it("a suspended user cannot log in with the right password; reactivated, it can", async () => {
    const { stub, userId } = await createUser();
    expectOk(await send(userId, { type: "SuspendUser" }));
    expect(await stub.authenticate(PASSWORD)).toEqual({ ok: false, reason: "invalid" });
    expectOk(await send(userId, { type: "ReactivateUser" }));
    expect(await stub.authenticate(PASSWORD)).toMatchObject({ ok: true, revision: 4 });
  });

  it("a deleted user cannot log in with the right password", async () => {
    const { stub, userId } = await createUser();
    expectOk(await send(userId, { type: "DeleteUser" }));
    expect(await stub.authenticate(PASSWORD)).toEqual({ ok: false, reason: "invalid" });
  });

  it("after a password change only the new password works", async () => {
    const { stub, userId } = await createUser();
    expectOk(
      await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "brand-new-pass" }),
    );
    expect(await stub.authenticate(PASSWORD)).toEqual({ ok: false, reason: "invalid" });
    expect(await stub.authenticate("brand-new-pass")).toMatchObject({ ok: true, revision: 3 });
  });

  it("two concurrent password changes from the same current password: only one applies", async () => {
    const { stub, userId } = await createUser();
    const results = await Promise.all([
      send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "first-winner-1" }),
      send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "second-winner-2" }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(rejectionOf(results.find((r) => !r.ok)!)).toMatchObject({ code: "IncorrectPassword" });
    const winner = results[0]!.ok ? "first-winner-1" : "second-winner-2";
    expect(await stub.authenticate(winner)).toMatchObject({ ok: true, revision: 3 });
  });
});

// Waking reads what the object needs in one statement and writes nothing, except for what the
// wake must still do: put back a lost outbox alarm, bring an old schema up to date.
describe("waking", () => {
  afterEach(settleAlarms);

  const outboxAndAlarm = (stub: ReturnType<typeof stubFor>) =>
    runInDurableObject(stub, async (_instance, state) => ({
      outbox: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
      alarm: await state.storage.getAlarm(),
    }));

  it("an object woken by a read with outbox rows and no alarm gets its alarm back", async () => {
    const { userId, stub } = await createUser();
    // The alarm lost (a process died as it ran), the rows still unconfirmed.
    await runInDurableObject(stub, (_instance, state) => state.storage.deleteAlarm());
    expect(await outboxAndAlarm(stub)).toMatchObject({ outbox: 1, alarm: null });
    await evictDurableObject(stub);

    expect(await stubFor(userId).readStream(1, 500)).toHaveLength(1);

    const after = await outboxAndAlarm(stubFor(userId));
    expect(after.outbox).toBe(1);
    expect(after.alarm).not.toBeNull();
  });

  it("an object woken with an empty outbox arms no alarm", async () => {
    const { userId, stub } = await createUser();
    await runInDurableObject(stub, async (_instance, state) => {
      state.storage.sql.exec("DELETE FROM outbox");
      await state.storage.deleteAlarm();
    });
    await evictDurableObject(stub);

    expect(await stubFor(userId).readStream(1, 500)).toHaveLength(1);

    expect(await outboxAndAlarm(stubFor(userId))).toEqual({ outbox: 0, alarm: null });
  });

  /** An object as the first schema step left it (before the later steps existed), evicted. */
  const storeUnderFirstStep = async (userId: string) => {
    await runInDurableObject(stubFor(userId), (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("CREATE TABLE _schema_migrations (step INTEGER PRIMARY KEY)");
      sql.exec(MIGRATIONS[0]!);
      sql.exec("INSERT INTO _schema_migrations (step) VALUES (1)");
      setMeta(sql, "aggregate_id", userId);
    });
    await evictDurableObject(stubFor(userId));
  };

  it("an object stored under an older schema is brought up to date on waking", async () => {
    const userId = crypto.randomUUID();
    await storeUnderFirstStep(userId);

    expect(await stubFor(userId).readStream(1, 500)).toEqual([]);

    const schema = await runInDurableObject(stubFor(userId), (_instance, state) => {
      const sql = state.storage.sql;
      return {
        steps: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM _schema_migrations").one().n,
        outbox: sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('outbox')").toArray(),
      };
    });
    expect(schema.steps).toBe(SCHEMA_STEPS);
    expect(schema.outbox.map((column) => column.name)).toContain("sent_at");
  });

  it("a new user's object is created with the schema an old object is brought up to", async () => {
    const schemaOf = (userId: string) =>
      runInDurableObject(stubFor(userId), (_instance, state) => {
        const sql = state.storage.sql;
        return {
          objects: sql
            // The platform's own table (the alarm's) aside.
            .exec("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE '_cf_%' ORDER BY type, name")
            .toArray(),
          steps: sql.exec("SELECT step FROM _schema_migrations ORDER BY step").toArray(),
        };
      });
    const old = crypto.randomUUID();
    await storeUnderFirstStep(old);
    await stubFor(old).readStream(1, 500);
    const { userId } = await createUser();

    const created = await schemaOf(userId);

    expect(created.steps).toHaveLength(SCHEMA_STEPS);
    expect(created).toEqual(await schemaOf(old));
  });
});
