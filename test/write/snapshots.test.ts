import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { STATE_SHAPE_VERSION, fold, publicUser, type UserState } from "../../src/domain/user";
import { readEvents } from "../../src/write/event-store";
import { createUser, expectOk, send, settleAlarms, stubFor, update, type Stub } from "./helpers";
import { PASSWORD } from "../support/builders";

/**
 * Snapshots: every SNAPSHOT_EVERY events the object stores its folded state, tagged with the state's
 * shape version; a cold object starts from the newest snapshot of the current shape and folds only
 * the tail. Whatever the snapshots hold, the user must come out as the fold of every event.
 */

const EVERY = Number(env.SNAPSHOT_EVERY);
const NEW_PASSWORD = "snapshotted-pw-1";

interface SnapshotRow extends Record<string, SqlStorageValue> {
  revision: number;
  shape: number;
  state: string;
}

function snapshots(stub: Stub): Promise<SnapshotRow[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql.exec<SnapshotRow>("SELECT revision, shape, state FROM snapshots ORDER BY revision").toArray(),
  );
}

/** The fold of the stored events 1..`through` (all by default), password hash included. */
function foldOfEvents(stub: Stub, userId: string, through = Number.MAX_SAFE_INTEGER): Promise<UserState> {
  return runInDurableObject(stub, (_instance, state) => fold(readEvents(state.storage.sql, userId, 1, through)));
}

/** A fresh instance of the object, loaded from storage alone. */
async function coldStart(stub: Stub, userId: string): Promise<Stub> {
  await runDurableObjectAlarm(stub);
  await evictDurableObject(stub);
  return stubFor(userId);
}

/**
 * A user with `updates` updates after its creation (first and last names in turn), and a password
 * change as update number `passwordAt`. `check(revision)` runs after every command.
 */
async function longStream(
  updates: number,
  passwordAt: number,
  check?: (revision: number, stub: Stub) => Promise<void>,
) {
  const created = await createUser();
  const { userId, stub } = created;
  let revision = created.revision;
  await check?.(revision, stub);
  for (let i = 1; i <= updates; i++) {
    const result =
      i === passwordAt
        ? await send(userId, { type: "ChangePassword", current_password: PASSWORD, new_password: NEW_PASSWORD })
        : await update(userId, i % 2 === 0 ? { first_name: `first-${i}` } : { last_name: `last-${i}` });
    revision = expectOk(result).revision;
    await check?.(revision, stub);
  }
  return { ...created, revision };
}

describe("snapshots", () => {
  afterEach(settleAlarms);

  it(`are taken at multiples of SNAPSHOT_EVERY (${EVERY}), of the current shape, and only the newest is kept`, async () => {
    expect(EVERY).toBeGreaterThan(1);
    const seen: { revision: number; rows: number[] }[] = [];
    const user = await longStream(3 * EVERY + 50, EVERY + 10, async (revision, stub) => {
      if (![EVERY - 1, EVERY, EVERY + 1, 2 * EVERY - 1, 2 * EVERY, 3 * EVERY].includes(revision)) return;
      seen.push({ revision, rows: (await snapshots(stub)).map((r) => r.revision) });
    });
    expect(seen).toEqual([
      { revision: EVERY - 1, rows: [] },
      { revision: EVERY, rows: [EVERY] },
      { revision: EVERY + 1, rows: [EVERY] },
      { revision: 2 * EVERY - 1, rows: [EVERY] },
      { revision: 2 * EVERY, rows: [2 * EVERY] },
      { revision: 3 * EVERY, rows: [3 * EVERY] },
    ]);

    const [latest, ...others] = await snapshots(user.stub);
    expect(others).toEqual([]);
    expect(latest).toMatchObject({ revision: 3 * EVERY, shape: STATE_SHAPE_VERSION });
    // The snapshot is the fold of the events up to its revision, password hash and all.
    expect(JSON.parse(latest!.state)).toEqual(await foldOfEvents(user.stub, user.userId, 3 * EVERY));
  });

  it("a cold object (snapshot + tail) has the same user as the fold of every event", async () => {
    const user = await longStream(350, 150);
    expect(user.revision).toBe(351);
    expect((await snapshots(user.stub)).map((r) => r.revision)).toEqual([Math.floor(351 / EVERY) * EVERY]);
    const warm = await user.stub.getUser();
    const all = await foldOfEvents(user.stub, user.userId);

    const cold = await coldStart(user.stub, user.userId);
    const got = await cold.getUser();
    expect(got).toEqual(warm);
    expect(got).toEqual({ revision: 351, user: publicUser(all.user!, all.revision) });
    expect(got.user).toMatchObject({ first_name: "first-350", last_name: "last-349", status: "active" });
    // The password hash (changed before the snapshot) came back too, and the stream goes on.
    // The login appends USER_LOGGED_IN at 352.
    expect(await cold.authenticate(NEW_PASSWORD)).toMatchObject({ ok: true, revision: 352 });
    expect(await update(user.userId, { first_name: "next" })).toMatchObject({ ok: true, revision: 353 });
  });

  it("a cold object starts from the snapshot, not from revision 1", async () => {
    const user = await longStream(EVERY + 20, 0);
    // Mark the snapshot: the email is never changed by the tail, so the mark shows iff it was read.
    await runInDurableObject(user.stub, (_instance, state) => {
      const row = state.storage.sql.exec<SnapshotRow>("SELECT revision, shape, state FROM snapshots").one();
      const snapshot = JSON.parse(row.state) as UserState;
      state.storage.sql.exec(
        "UPDATE snapshots SET state = ? WHERE revision = ?",
        JSON.stringify({ ...snapshot, user: { ...snapshot.user, email: "from-the-snapshot@example.com" } }),
        row.revision,
      );
    });
    const cold = await coldStart(user.stub, user.userId);
    expect(await cold.getUser()).toMatchObject({
      revision: EVERY + 21,
      user: { email: "from-the-snapshot@example.com", first_name: `first-${EVERY + 20}` },
    });
  });

  it("with the snapshots gone, the object rebuilds from the events with the same result, and snapshots again", async () => {
    const user = await longStream(350, 200);
    const warm = await user.stub.getUser();
    await runInDurableObject(user.stub, (_instance, state) => {
      state.storage.sql.exec("DELETE FROM snapshots");
    });

    const cold = await coldStart(user.stub, user.userId);
    expect(await cold.getUser()).toEqual(warm);
    expect(await cold.authenticate(NEW_PASSWORD)).toMatchObject({ ok: true });

    // The next multiple is snapshotted again, from the rebuilt state.
    for (let revision = warm.revision; revision < 4 * EVERY;)
      revision = expectOk(await update(user.userId, { first_name: `again-${revision}` })).revision;
    const [row, ...more] = await snapshots(cold);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ revision: 4 * EVERY, shape: STATE_SHAPE_VERSION });
    expect(JSON.parse(row!.state)).toEqual(await foldOfEvents(cold, user.userId, 4 * EVERY));
  });

  it("a snapshot of a stale shape is ignored, even the newest and even when it is wrong", async () => {
    const user = await longStream(350, 120);
    const warm = await user.stub.getUser();
    const valid = await snapshots(user.stub);
    expect(valid.map((r) => r.shape)).toEqual([STATE_SHAPE_VERSION]);
    // As if written by an older `evolve`: newer than the valid snapshot, and plainly wrong.
    const stale: UserState = {
      revision: 351,
      user: {
        ...(await foldOfEvents(user.stub, user.userId)).user!,
        first_name: "STALE",
        status: "deleted",
        password_hash: "stale-hash",
      },
    };
    await runInDurableObject(user.stub, (_instance, state) => {
      state.storage.sql.exec(
        "INSERT INTO snapshots (revision, shape, state) VALUES (?, ?, ?)",
        351,
        STATE_SHAPE_VERSION - 1,
        JSON.stringify(stale),
      );
    });

    const cold = await coldStart(user.stub, user.userId);
    expect(await cold.getUser()).toEqual(warm);
    expect((await cold.getUser()).user).toMatchObject({ first_name: "first-350", status: "active" });
    expect(await cold.authenticate(NEW_PASSWORD)).toMatchObject({ ok: true });
    const afterLogin = await cold.getUser();

    // And with only the stale one left, the events alone give the same user.
    await runInDurableObject(cold, (_instance, state) => {
      state.storage.sql.exec("DELETE FROM snapshots WHERE shape = ?", STATE_SHAPE_VERSION);
    });
    const colder = await coldStart(cold, user.userId);
    expect(await colder.getUser()).toEqual(afterLogin);
  });
});
