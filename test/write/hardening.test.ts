import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { identityKey } from "../../src/domain/rules";
import { TOKEN_REFUSED } from "../../src/write/protocol";
import { identityRegistry } from "../../src/write/identity-shards";
import {
  claimRows,
  createUser,
  expectOk,
  metadata,
  published,
  rejectionOf,
  send,
  settleAlarms,
  tables,
  update,
} from "./helpers";
import { createInput, PASSWORD, uniqueName } from "../support/builders";

/**
 * The tables this service created in an object. Locally, miniflare itself writes a
 * `__miniflare_do_name` table into every object it starts (production has no such thing), so
 * `listDurableObjectIds` lists every object ever addressed; what matters is that we stored nothing.
 */
function ourTables(stub: unknown): Promise<string[]> {
  const run = runInDurableObject as unknown as (
    stub: unknown,
    callback: (instance: unknown, state: DurableObjectState) => string[],
  ) => Promise<string[]>;
  return run(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((row) => row.name)
      .filter((name) => !name.startsWith("__miniflare") && !name.startsWith("_cf_")),
  );
}

async function exists(namespace: { get(id: DurableObjectId): unknown }, id: DurableObjectId): Promise<boolean> {
  return (await ourTables(namespace.get(id))).length > 0;
}

const restore = (reason = "deleted by accident") => ({ type: "RestoreUser" as const, reason });

describe("reads and failed logins create no storage", () => {
  afterEach(settleAlarms);

  it("every read of an unknown user's object leaves no object behind", async () => {
    const id = env.USER_STREAM.idFromName(crypto.randomUUID());
    const stub = env.USER_STREAM.get(id);
    expect(await stub.getUser()).toEqual({ revision: 0, user: null });
    expect(await stub.history({ revision: 1 })).toBeNull();
    expect(await stub.readStream(1, 10)).toEqual([]);
    expect(await stub.auditTrail({ fromRevision: 1, limit: 10 })).toBeNull();
    expect(await stub.status()).toEqual({ revision: 0, outboxSize: 0, oldestOutboxAt: null });
    expect(await stub.tokenHolder(1)).toBeNull();
    expect(await stub.holdsIdentity("username:x")).toBe(false);
    expect(await stub.heldInStream()).toBeNull();
    expect(await stub.authenticate(PASSWORD)).toEqual({ ok: false, reason: "invalid" });
    expect(await stub.ticket(Date.now(), { issuedAt: 1, role: "user" })).toBe(TOKEN_REFUSED);
    expect(await exists(env.USER_STREAM, id)).toBe(false);
  });

  it("a rejected command on an unknown user leaves no object behind", async () => {
    const userId = crypto.randomUUID();
    expect(rejectionOf(await update(userId, { first_name: "Ghost" }))).toMatchObject({ code: "UserNotFound" });
    expect(rejectionOf(await send(userId, restore()))).toMatchObject({ code: "UserNotFound" });
    expect(await exists(env.USER_STREAM, env.USER_STREAM.idFromName(userId))).toBe(false);
  });

  it("looking up a name nobody claimed stores nothing of it: no shard row, no old per-key object", async () => {
    const key = identityKey("username", uniqueName("nobody"));
    expect(await identityRegistry(env).holder(key)).toBeNull();
    await identityRegistry(env).releaseMany([key], crypto.randomUUID());
    expect(await claimRows(key)).toEqual([]);
    expect(await exists(env.IDENTITY_REGISTRY, env.IDENTITY_REGISTRY.idFromName(key))).toBe(false);
  });
});

describe("restoring a deleted user", () => {
  afterEach(settleAlarms);

  it("appends USER_RESTORED with the reason, and takes the username and email back", async () => {
    const { userId, stub, username, email } = await createUser();
    expectOk(await send(userId, { type: "DeleteUser" }));
    const restored = expectOk(await send(userId, restore(), { metadata: metadata({ reason: "ticket 42" }) }));
    expect(restored.revision).toBe(3);
    expect((await stub.readStream(3, 1))[0]).toMatchObject({
      event_type: "USER_RESTORED",
      data: { reason: "deleted by accident", status: "active" },
    });
    expect((await stub.getUser()).user).toMatchObject({ status: "active", deleted_at: null });
    // The identities are held again: nobody else can take them.
    const clash = await send(crypto.randomUUID(), createInput({ username, email: `other-${email}` }));
    expect(rejectionOf(clash)).toMatchObject({ code: "IdentityTaken", field: "username" });
  });

  it("is refused with the username named when someone took it meanwhile, and writes nothing", async () => {
    const { userId, stub, username } = await createUser();
    expectOk(await send(userId, { type: "DeleteUser" }));
    expectOk(await send(crypto.randomUUID(), createInput({ username: username.toUpperCase() })));
    const before = await tables(stub);
    expect(rejectionOf(await send(userId, restore()))).toMatchObject({
      code: "IdentityTaken",
      field: "username",
      value: username,
    });
    expect(await tables(stub)).toEqual(before);
  });

  it("is refused with the email named when only the email was taken, and frees the username again", async () => {
    const { userId, username, email } = await createUser();
    expectOk(await send(userId, { type: "DeleteUser" }));
    expectOk(await send(crypto.randomUUID(), createInput({ email })));
    expect(rejectionOf(await send(userId, restore()))).toMatchObject({ code: "IdentityTaken", field: "email" });
    // The username claimed for the failed restore was released: a new user can have it.
    expectOk(await send(crypto.randomUUID(), createInput({ username, email: `x-${email}` })));
  });

  it("is refused for a live or an erased user, writing nothing", async () => {
    const live = await createUser();
    expect(rejectionOf(await send(live.userId, restore()))).toMatchObject({ rule: "user_not_deleted" });
    const erased = await createUser();
    expectOk(await send(erased.userId, { type: "DeleteUser" }));
    expectOk(await send(erased.userId, { type: "EraseUser" }));
    // The publish after the erasure marks its outbox rows sent; the comparison starts after it.
    await published(erased.stub);
    const before = await tables(erased.stub);
    expect(rejectionOf(await send(erased.userId, restore()))).toMatchObject({ rule: "restore_erased" });
    expect(await tables(erased.stub)).toEqual(before);
  });
});

describe("tokens after a revoking event", () => {
  afterEach(settleAlarms);

  it("a token of a login before a suspension stays refused after the reactivation; a new login works", async () => {
    const { userId, stub } = await createUser();
    const login = await stub.authenticate(PASSWORD);
    if (!login.ok) throw new Error("login failed");
    expect(await stub.tokenHolder(login.revision)).toMatchObject({ id: userId });
    expectOk(await send(userId, { type: "SuspendUser" }));
    expectOk(await send(userId, { type: "ReactivateUser" }));
    expect(await stub.tokenHolder(login.revision)).toBeNull();
    const again = await stub.authenticate(PASSWORD);
    if (!again.ok) throw new Error("login failed");
    expect(await stub.tokenHolder(again.revision)).toMatchObject({ id: userId });
  });

  it("a password change refuses older tokens", async () => {
    const { userId, stub } = await createUser();
    const login = await stub.authenticate(PASSWORD);
    if (!login.ok) throw new Error("login failed");
    expectOk(await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: "new-pass-99" }));
    expect(await stub.tokenHolder(login.revision)).toBeNull();
  });
});

describe("idempotency keys are scoped by caller", () => {
  afterEach(settleAlarms);

  it("the same key from another caller is a new request, not a replay of the first caller's answer", async () => {
    const { userId, stub } = await createUser();
    const idempotency = { key: crypto.randomUUID(), fingerprint: "same-body" };
    const admin = metadata({ actor_id: crypto.randomUUID(), actor_username: "admin" });
    const self = metadata({ actor_id: userId, actor_username: "self" });
    const first = expectOk(await update(userId, { first_name: "ByAdmin" }, { idempotency, metadata: admin }));
    const second = expectOk(await update(userId, { first_name: "BySelf" }, { idempotency, metadata: self }));
    expect(second).toMatchObject({ replayed: false, revision: first.revision + 1 });
    expect(await update(userId, { first_name: "ByAdmin" }, { idempotency, metadata: admin })).toEqual({
      ...first,
      replayed: true,
    });
    expect((await stub.getUser()).user?.first_name).toBe("BySelf");
  });
});

describe("erasure", () => {
  afterEach(settleAlarms);

  it("leaves no registry row (nor old per-key object) for the erased username and email", async () => {
    const { userId, username, email } = await createUser();
    const keys = [identityKey("username", username), identityKey("email", email)];
    for (const key of keys) expect(await claimRows(key)).toMatchObject([{ key, owner: userId }]);
    expectOk(await send(userId, { type: "EraseUser" }));
    for (const key of keys) {
      expect(await claimRows(key)).toEqual([]);
      expect(await exists(env.IDENTITY_REGISTRY, env.IDENTITY_REGISTRY.idFromName(key))).toBe(false);
    }
  });
});
