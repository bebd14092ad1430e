import { afterEach, describe, expect, it } from "vitest";
import { createUser, expectOk, metadata, rejectionOf, send, settleAlarms, stubFor, tables, update } from "./helpers";
import { PASSWORD } from "../support/builders";

/**
 * A caller acting on itself sends its token's claims with the command (`caller`): the object it
 * writes to checks them against its own state before anything else, in the transaction, so the
 * command needs no other call and revocation is immediate.
 */

afterEach(settleAlarms);

const as = (userId: string, issuedAt: number, role: "admin" | "user" = "user", username = "name-in-token") => ({
  caller: { issuedAt, role },
  metadata: metadata({ actor_id: userId, actor_username: username }),
});

describe("a self-command's token, checked by the object it writes to", () => {
  it("is accepted while the user accepts it; the actor is named as the stream has it now", async () => {
    const { userId, stub, username } = await createUser();
    expectOk(await update(userId, { first_name: "Self" }, as(userId, 1)));
    const events = await stub.readStream(1, 10);
    expect(events.at(-1)?.metadata).toMatchObject({ actor_id: userId, actor_username: username });
  });

  it("is refused once a revoking event is newer than the token, and nothing is appended", async () => {
    const { userId, stub } = await createUser();
    const change = { type: "ChangePassword", current_password: PASSWORD, new_password: "changed-pass-1" } as const;
    expectOk(await send(userId, change, as(userId, 1)));
    const before = (await tables(stub)).events.length;
    expect(rejectionOf(await update(userId, { first_name: "Late" }, as(userId, 1)))).toEqual({ code: "TokenRefused" });
    expect((await tables(stub)).events).toHaveLength(before);
    // A token issued at or after the change is accepted.
    expectOk(await update(userId, { first_name: "Fresh" }, as(userId, 2)));
  });

  it("is refused for a suspended user, before an idempotent replay or a stale If-Match would answer", async () => {
    const { userId } = await createUser();
    const idempotency = { key: "k-1", fingerprint: "f" };
    expectOk(await update(userId, { first_name: "Once" }, { ...as(userId, 1), idempotency }));
    expectOk(await send(userId, { type: "SuspendUser" }));
    const replay = await update(userId, { first_name: "Once" }, { ...as(userId, 1), idempotency });
    expect(rejectionOf(replay)).toEqual({ code: "TokenRefused" });
    const stale = await update(userId, { first_name: "X" }, { ...as(userId, 1), expectedRevision: 1 });
    expect(rejectionOf(stale)).toEqual({ code: "TokenRefused" });
  });

  it("is refused when it names another user or another role, or the user does not exist (no storage made)", async () => {
    const { userId } = await createUser();
    const other = crypto.randomUUID();
    expect(rejectionOf(await update(userId, { first_name: "X" }, as(other, 1)))).toEqual({ code: "TokenRefused" });
    expect(rejectionOf(await update(userId, { first_name: "X" }, as(userId, 1, "admin")))).toEqual({
      code: "TokenRefused",
    });
    const nobody = crypto.randomUUID();
    expect(rejectionOf(await update(nobody, { first_name: "X" }, as(nobody, 1)))).toEqual({ code: "TokenRefused" });
    expect((await tables(stubFor(nobody))).all).toEqual({});
  });
});

describe("a self-read's token (history, events), checked by the object in the same call", () => {
  it("answers while the user accepts the token, and refuses it once a revoking event is newer", async () => {
    const { userId, stub, username } = await createUser();
    const page = { fromRevision: 1, limit: 10 };
    expect(await stub.history({ revision: 1 }, { issuedAt: 1, role: "user" })).toMatchObject({ username });
    expect(await stub.auditTrail(page, { issuedAt: 1, role: "user" })).toHaveLength(1);
    expectOk(await send(userId, { type: "SuspendUser" }));
    expect(await stub.history({ revision: 1 }, { issuedAt: 1, role: "user" })).toBe("TokenRefused");
    expect(await stub.auditTrail(page, { issuedAt: 1, role: "user" })).toBe("TokenRefused");
    // Without a caller (an admin, confirmed by its own object) the read answers.
    expect(await stub.auditTrail(page)).toHaveLength(2);
  });

  it("refuses another role's token, and a token for a user that does not exist, with no storage made", async () => {
    const { stub } = await createUser();
    expect(await stub.history({ revision: 1 }, { issuedAt: 1, role: "admin" })).toBe("TokenRefused");
    const nobody = stubFor(crypto.randomUUID());
    expect(await nobody.history({ revision: 1 }, { issuedAt: 1, role: "user" })).toBe("TokenRefused");
    expect(await nobody.auditTrail({ fromRevision: 1, limit: 10 }, { issuedAt: 1, role: "user" })).toBe("TokenRefused");
    expect((await tables(nobody)).all).toEqual({});
  });
});
