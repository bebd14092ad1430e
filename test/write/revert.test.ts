import { afterEach, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../src/domain/events";
import { commandCouldProduce } from "../../src/domain/import-gate";
import { evolve, initialState, type PublicUser } from "../../src/domain/user";
import { createInput, PASSWORD, uniqueName } from "../support/builders";
import { createUser, expectOk, metadata, rejectionOf, send, settleAlarms, update } from "./helpers";

const REASON = "put back (ticket #29)";

const revertTo = (userId: string, revision: number, reason = REASON) =>
  send(userId, { type: "RevertUser", to: { revision }, reason }, { metadata: metadata({ reason }) });

/** What a revert puts back: the user as a strong read shows it, but for the times and revision. */
function visible(user: PublicUser | string | null) {
  if (!user || typeof user === "string") return user;
  const { username, email, first_name, last_name, role, status } = user;
  return { username, email, first_name, last_name, role, status };
}

describe("a revert in the user's object", () => {
  afterEach(settleAlarms);

  it("appends its events in one commit, with one request's metadata, after every earlier event", async () => {
    const { userId, stub } = await createUser();
    expectOk(await update(userId, { first_name: "Changed", email: `${uniqueName("new")}@example.com` }));
    expectOk(await send(userId, { type: "SuspendUser" }));
    expectOk(await send(userId, { type: "DeleteUser", reason: "by mistake" }));
    const before = await stub.readStream(1, 100);

    const result = expectOk(await revertTo(userId, 1));

    expect(result).toMatchObject({ revision: 7, events: ["USER_RESTORED", "USER_CORRECTED", "USER_REACTIVATED"] });
    const stream = await stub.readStream(1, 100);
    expect(stream.slice(0, 4)).toEqual(before);
    const appended = stream.slice(4);
    expect(appended.map((event) => event.revision)).toEqual([5, 6, 7]);
    expect(new Set(appended.map((event) => event.metadata.request_id)).size).toBe(1);
    expect(new Set(appended.map((event) => event.timestamp)).size).toBe(1);
    expect(appended.every((event) => event.metadata.reason === REASON)).toBe(true);
    expect(visible((await stub.getUser()).user)).toEqual(visible(await stub.history({ revision: 1 })));
  });

  it("takes then's username back in the registry, and frees the one it leaves at once", async () => {
    const { userId, stub, username } = await createUser();
    const renamed = uniqueName("renamed");
    expectOk(await send(userId, { type: "CorrectUser", changes: { username: renamed }, reason: "rename" }));
    expectOk(await revertTo(userId, 1));
    expect((await stub.getUser()).user?.username).toBe(username);
    // Its old name is its own again; the name it left is free for someone else.
    const taken = await send(crypto.randomUUID(), createInput({ username, password: PASSWORD }));
    expect(rejectionOf(taken)).toMatchObject({ code: "IdentityTaken", field: "username" });
    expectOk(await send(crypto.randomUUID(), createInput({ username: renamed, password: PASSWORD })));
  });

  it("racing 30 creates for then's username: exactly one of them or the revert gets it", async () => {
    const { userId, stub, username } = await createUser();
    expectOk(await send(userId, { type: "CorrectUser", changes: { username: uniqueName("moved") }, reason: "rename" }));
    const results = await Promise.all([
      revertTo(userId, 1),
      ...Array.from({ length: 30 }, () => send(crypto.randomUUID(), createInput({ username, password: PASSWORD }))),
    ]);
    const winners = results.filter((result) => result.ok);
    expect(winners).toHaveLength(1);
    expect(results.filter((result) => !result.ok).map((result) => rejectionOf(result).code)).toEqual(
      Array.from({ length: 30 }, () => "IdentityTaken"),
    );
    const reverted = results[0]!.ok;
    expect((await stub.getUser()).user?.username === username).toBe(reverted);
  });

  it("decides on the state its commit sees: concurrent updates do not leave it half applied", async () => {
    const { userId, stub } = await createUser({ first_name: "First" });
    expectOk(await update(userId, { first_name: "Second" }));
    const results = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => update(userId, { last_name: `Racing${i}` })),
      revertTo(userId, 1),
    ]);
    const revert = expectOk(results[5]!);
    const atRevert = await stub.history({ revision: revert.revision });
    expect(visible(atRevert)).toEqual(visible(await stub.history({ revision: 1 })));
  });

  it("what it appends passes the import gate: each event is one a command could have made", async () => {
    const { userId, stub } = await createUser();
    expectOk(await send(userId, { type: "CorrectUser", changes: { username: uniqueName("moved") }, reason: "x" }));
    expectOk(await send(userId, { type: "SuspendUser" }));
    expectOk(await send(userId, { type: "DeleteUser" }));
    expectOk(await revertTo(userId, 2));
    expectOk(await revertTo(userId, 4));
    const stream = (await stub.exportEvents(1, 100, true)) as unknown as RecordedEvent[];
    expect(stream.map((event) => event.event_type)).toContain("USER_RESTORED");
    let state = initialState;
    for (const event of stream) {
      expect(commandCouldProduce(state, event), `${event.revision} ${event.event_type}`).toBeNull();
      state = evolve(state, event);
    }
  });

  it("a stale expected revision, an erased user, a point before creation: refused, nothing appended", async () => {
    const { userId, stub } = await createUser();
    expectOk(await update(userId, { first_name: "Changed" }));
    expect(rejectionOf(await revertTo(userId, 0))).toMatchObject({ rule: "revert_before_creation" });
    const stale = await send(
      userId,
      { type: "RevertUser", to: { revision: 1 }, reason: REASON },
      { expectedRevision: 1 },
    );
    expect(rejectionOf(stale)).toEqual({ code: "RevisionMismatch", current_revision: 2 });
    expectOk(await send(userId, { type: "EraseUser" }));
    expect(rejectionOf(await revertTo(userId, 1))).toMatchObject({ rule: "revert_erased" });
    expect((await stub.getUser()).revision).toBe(3);
  });
});
