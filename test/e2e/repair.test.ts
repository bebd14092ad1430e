import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { mailSink } from "../../src/deliver/mail-sink";
import { MAIL_SUBSCRIPTION_ID } from "../../src/deliver/protocol";
import { feedEnd } from "../../src/read/feed";
import { subscription } from "../../src/objects";
import { ProjectionRebuild } from "../../src/read/projection-rebuild";
import type { RebuildProgress } from "../../src/read/rebuild-progress";
import { ERASED } from "../../src/domain/events";
import type { PublicUser } from "../../src/domain/user";
import { recordDeadLetters } from "../../src/read/dead-letters";
import { listDirectory } from "../../src/write/user-directory";
import { fakeMessage } from "../read/fixtures";
import { adminSession, call, createUser as createUserOverHttp, tokenWithoutLogin } from "../support/api";
import type {
  UserView,
  UserListBody as UserList,
  EventsPageBody as EventsPage,
  ErrorBody,
  CommandBody as CommandResponse,
} from "../support/types";
import { PASSWORD, newUserBody, uniqueName } from "../support/builders";
import { everyReadDb, readDb } from "../support/shards";

/**
 * Repairs, end to end: corrections are events, erasure leaves only a tombstone, and the read model
 * can be rebuilt from the streams (one user, or all of them, resumably) to exactly what the live
 * projector built, without sending any mail again.
 */

type Row = Record<string, SqlStorageValue>;

let admin: { id: string; token: string; username: string };
/** Every user this file created: `settled()` waits for all of them. */
const created = new Set<string>();

beforeAll(async () => {
  admin = await adminSession();
  created.add(admin.id);
});

async function createUser(overrides: Partial<ReturnType<typeof newUserBody>> = {}) {
  const user = await createUserOverHttp(admin.token, overrides);
  created.add(user.id);
  return user;
}

async function command(method: string, path: string, token: string, body?: unknown): Promise<number> {
  const res = await call<CommandResponse>(method, path, { token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.revision;
}

async function d1Revision(userId: string): Promise<number> {
  const row = await readDb(userId)
    .prepare("SELECT revision FROM users WHERE id = ?")
    .bind(userId)
    .first<{ revision: number }>();
  return row?.revision ?? 0;
}

/** Waits until the read model has projected the user up to `revision`. */
async function projected(userId: string, revision: number): Promise<void> {
  await vi.waitUntil(async () => (await d1Revision(userId)) >= revision, { timeout: 10_000, interval: 20 });
}

async function directoryIds(): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const page = await listDirectory(env, ids[ids.length - 1] ?? "", 100);
    ids.push(...page.ids);
    if (page.ids.length < 100) return ids;
  }
}

/** Waits until every known user stream is registered and fully projected: the read model is at rest. */
async function settled(): Promise<void> {
  // Nothing appends while a test waits here, so each stream's revision is asked once; asking every
  // object and D1 for every user each 50 ms took most of the machine from the projector it waits on.
  const streamRevisions = new Map<string, number>();
  await vi.waitUntil(
    async () => {
      const listed = await directoryIds();
      if ([...created].some((id) => !listed.includes(id))) return false;
      for (const id of listed) {
        if (!streamRevisions.has(id)) streamRevisions.set(id, (await env.USER_STREAM.getByName(id).getUser()).revision);
      }
      const results = await everyRow<{ id: string; revision: number }>("SELECT id, revision FROM users");
      const projected = new Map(results.map((row) => [row.id, row.revision]));
      return listed.every((id) => (projected.get(id) ?? 0) === streamRevisions.get(id));
    },
    { timeout: 20_000, interval: 50 },
  );
  await mailSettled();
}

/**
 * The welcome mail travels on after the projection: settled when its subscription has delivered
 * everything the feed holds, so a snapshot of sent_emails taken after it is final.
 */
async function mailSettled(): Promise<void> {
  await vi.waitUntil(
    async () => {
      // It is woken only by batches holding a USER_CREATED: one of a user's later events, projected
      // in a batch of its own (or by another queue's consumer), leaves its checkpoint short of the
      // feed's end until something wakes it. Asked to look, it reads the feed to its end.
      await subscription(env, MAIL_SUBSCRIPTION_ID).wake();
      const mail = await subscription(env, MAIL_SUBSCRIPTION_ID).view();
      return mail !== null && mail.position >= (await feedEnd(env.DB));
    },
    { timeout: 20_000, interval: 50 },
  );
}

async function rows(table: "users" | "sent_emails" | "dead_letters"): Promise<Row[]> {
  // The users rows are in every read database (0026): gathered, then in the same order by id.
  if (table === "users") return (await everyRow<Row>("SELECT * FROM users")).sort((a, b) => byId(a.id, b.id));
  const order = table === "sent_emails" ? "user_id, kind" : "id";
  return (await env.DB.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all<Row>()).results;
}

/** A query's rows from every read database. */
async function everyRow<T>(sql: string): Promise<T[]> {
  return (await Promise.all(everyReadDb().map(async (db) => (await db.prepare(sql).all<T>()).results))).flat();
}

const byId = (a: unknown, b: unknown) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);

/** Every table of a user's object, every row (the platform's own `_cf_` tables are not readable). */
function objectStorage(userId: string): Promise<Record<string, Row[]>> {
  return runInDurableObject(env.USER_STREAM.getByName(userId), (_instance, state) => {
    const sql = state.storage.sql;
    const names = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name",
      )
      .toArray()
      .map((row) => row.name);
    return Object.fromEntries(names.map((name) => [name, sql.exec<Row>(`SELECT * FROM "${name}"`).toArray()]));
  });
}

/** Which of `values` occur in `haystack`, in any letter case. */
function leaks(haystack: unknown, values: string[]): string[] {
  const text = (typeof haystack === "string" ? haystack : JSON.stringify(haystack)).toLowerCase();
  return values.filter((value) => text.includes(value.toLowerCase()));
}

async function exportText(userId: string): Promise<{ status: number; text: string }> {
  const res = await exports.default.fetch(`http://localhost/admin/users/${userId}/stream`, {
    headers: { Authorization: `Bearer ${admin.token}` },
  });
  return { status: res.status, text: new TextDecoder().decode(await res.arrayBuffer()) };
}

/** Every live user the list shows, paging through all of it. */
async function wholeList(token = admin.token): Promise<UserView[]> {
  const all: UserView[] = [];
  for (let page = 1; ; page++) {
    const res = await call<UserList>("GET", `/v1/users/?page=${page}&page_size=100`, { token });
    expect(res.status).toBe(200);
    all.push(...res.body.results);
    if (!res.body.next) return all;
  }
}

describe("corrections", () => {
  it("append USER_CORRECTED with the changes and the reason; the username moves in the read model and the registry", async () => {
    const tag = uniqueName("c");
    const wrong = `Tpyo${tag}`;
    const right = `Typo${tag}`;
    const user = await createUser({ username: wrong, first_name: "Jhon" });
    const reason = "Misspelt at signup (ticket #17)";

    const res = await call<CommandResponse>("POST", `/admin/users/${user.id}/corrections`, {
      token: admin.token,
      body: { changes: { username: right, first_name: "John" }, reason },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ revision: 2 });
    expect(res.headers.get("ETag")).toBe('"2"');

    const read = await call<{ user: UserView }>("GET", `/v1/users/${user.id}/?min_revision=2`, { token: admin.token });
    expect(read.status).toBe(200);
    expect(read.body.user).toMatchObject({
      username: right,
      first_name: "John",
      last_name: "Last",
      email: user.email,
      revision: 2,
    });

    const events = await call<EventsPage>("GET", `/v1/users/${user.id}/events/`, { token: admin.token });
    expect(events.body.results[1]).toMatchObject({
      event_type: "USER_CORRECTED",
      revision: 2,
      data: { username: right, first_name: "John", reason },
      metadata: { actor_id: admin.id, actor_username: admin.username, reason },
    });
    // The original event is untouched: the stream says what was entered and what it was corrected to.
    expect(events.body.results[0]).toMatchObject({
      event_type: "USER_CREATED",
      data: { username: wrong, first_name: "Jhon" },
    });

    const byOld = await call<UserList>("GET", `/v1/users/?username=${wrong}`, { token: admin.token });
    expect(byOld.body.count).toBe(0);
    const byNew = await call<UserList>("GET", `/v1/users/?username=${right}`, { token: admin.token });
    expect(byNew.body.results.map((u) => u.id)).toEqual([user.id]);

    // The corrected user logs in under the new name.
    const loggedIn = await call<{ user: { id: string } }>("POST", "/v1/auth/login/", {
      body: { username: right, password: PASSWORD },
    });
    expect(loggedIn.status).toBe(200);
    expect(loggedIn.body.user.id).toBe(user.id);
    // The new name is taken (in any case); the old one is free again.
    const taken = await call<ErrorBody>("POST", "/v1/users/", {
      token: admin.token,
      body: newUserBody(right.toUpperCase()),
    });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ type: "UsernameAlreadyExistsError" });
    const reused = await createUser({ username: wrong.toLowerCase(), password: "another-password-1" });
    expect(reused.id).not.toBe(user.id);
  });

  it("need a reason and an admin", async () => {
    const user = await createUser();
    const own = await tokenWithoutLogin(user.id);
    const path = `/admin/users/${user.id}/corrections`;

    const noReason = await call<ErrorBody>("POST", path, {
      token: admin.token,
      body: { changes: { first_name: "X" } },
    });
    expect(noReason.status).toBe(422);
    expect(noReason.body).toMatchObject({ type: "RequestValidationError" });
    expect(
      (await call("POST", path, { token: admin.token, body: { changes: { first_name: "X" }, reason: "" } })).status,
    ).toBe(422);
    const blank = await call<ErrorBody>("POST", path, {
      token: admin.token,
      body: { changes: { first_name: "X" }, reason: "   " },
    });
    expect(blank.status).toBe(422);
    expect(blank.body).toMatchObject({ error: "Validation Error", type: "ReasonRequiredError" });
    expect((await call("POST", path, { token: admin.token, body: { changes: {}, reason: "nothing" } })).status).toBe(
      422,
    );

    const notAdmin = await call<ErrorBody>("POST", path, {
      token: own,
      body: { changes: { first_name: "Me" }, reason: "I want to" },
    });
    expect(notAdmin.status).toBe(403);
    expect((await call("POST", path, { body: { changes: { first_name: "Me" }, reason: "anonymous" } })).status).toBe(
      401,
    );

    // None of the refused corrections left a trace.
    const strong = await call<{ user: UserView }>("GET", `/v1/users/${user.id}/?consistency=strong`, {
      token: admin.token,
    });
    expect(strong.body.user).toMatchObject({ first_name: "First", revision: 1 });
  });
});

describe("erasure", () => {
  it("leaves no personal value anywhere but a USER_ERASED tombstone, and frees the username and email", async () => {
    const tag = uniqueName("e").slice(1);
    const username = `ZeldaErase${tag}`;
    const email = `Zelda.Erase.${tag}@Example.com`;
    const movedEmail = `zelda.moved.${tag}@example.org`;
    const firstName = `Persephone${tag}`;
    const lastName = `Quimby${tag}`;
    const personal = [username, email, movedEmail, firstName, lastName];

    const user = await createUser({ username, email, first_name: firstName, last_name: lastName });
    const own = await tokenWithoutLogin(user.id);
    // The user acts on its own stream: its username is then also in an event's metadata.
    expect(await command("PUT", `/v1/users/${user.id}/`, own, { email: movedEmail })).toBe(2);
    await projected(user.id, 2);
    await welcomed(user.id);
    const [welcome] = (await rows("sent_emails")).filter((r) => r.user_id === user.id);
    expect(welcome).toMatchObject({ kind: "welcome", recipient: email.replace("Example.com", "example.com") });
    // An event of this user that the projector gave up on, as the dead-letter queue records it.
    const stuck = (await env.USER_STREAM.getByName(user.id).readStream(2, 1))[0];
    await recordDeadLetters([fakeMessage(stuck, { attempts: 6 })], env.DB);
    expect(leaks(await rows("dead_letters"), [movedEmail])).toEqual([movedEmail]);

    const erase = await call<CommandResponse>("POST", `/admin/users/${user.id}/erase`, {
      token: admin.token,
      body: { reason: "Data protection request #1234" },
    });
    expect(erase.status).toBe(200);
    expect(erase.body.revision).toBe(3);
    await projected(user.id, 3);

    // The API: the user is gone from every query, and what remains of its history says nothing.
    const eventual = await call<ErrorBody>("GET", `/v1/users/${user.id}/`, { token: admin.token });
    const strong = await call<ErrorBody>("GET", `/v1/users/${user.id}/?consistency=strong`, { token: admin.token });
    const list = await wholeList();
    const filtered = await call<UserList>("GET", `/v1/users/?username=${encodeURIComponent(username)}`, {
      token: admin.token,
    });
    const histories = await Promise.all(
      ["revision=1", "revision=2", "revision=3", "timestamp=2999-01-01T00:00:00Z"].map((q) =>
        call<PublicUser>("GET", `/v1/users/${user.id}/history/?${q}`, { token: admin.token }),
      ),
    );
    const events = await call<EventsPage>("GET", `/v1/users/${user.id}/events/`, { token: admin.token });
    const exported = await exportText(user.id);
    const deadLetters = await call<unknown>("GET", "/admin/dead-letters", { token: admin.token });
    const status = await call<unknown>("GET", "/admin/projections/status", { token: admin.token });

    expect(leaks([eventual.body, strong.body], personal)).toEqual([]);
    expect(leaks(list, personal)).toEqual([]);
    expect(leaks(filtered.body, personal)).toEqual([]);
    expect(
      leaks(
        histories.map((h) => h.body),
        personal,
      ),
    ).toEqual([]);
    expect(leaks(events.body, personal)).toEqual([]);
    expect(leaks(exported.text, personal)).toEqual([]);
    expect(leaks([deadLetters.body, status.body], personal)).toEqual([]);

    // The read model: every row of every table.
    expect(leaks(await rows("users"), personal)).toEqual([]);
    expect(leaks(await rows("sent_emails"), personal)).toEqual([]);
    expect(leaks(await rows("dead_letters"), personal)).toEqual([]);
    // The user's own object: every row of every table.
    const storage = await objectStorage(user.id);
    expect(Object.keys(storage)).toEqual(
      expect.arrayContaining(["events", "personal_data", "snapshots", "outbox", "idempotency", "meta"]),
    );
    expect(leaks(storage, personal)).toEqual([]);

    // The tombstone stays: the stream still has its three events, the last one saying why.
    expect(storage.events).toHaveLength(3);
    expect(events.status).toBe(200);
    expect(events.body.results.map((e) => e.event_type)).toEqual(["USER_CREATED", "USER_UPDATED", "USER_ERASED"]);
    expect(events.body.results[2]).toMatchObject({
      data: {},
      metadata: { actor_id: admin.id, reason: "Data protection request #1234" },
    });
    expect(events.body.results[0]!.data).toMatchObject({
      username: ERASED,
      email: ERASED,
      first_name: ERASED,
      last_name: ERASED,
    });
    expect(events.body.results[1]!.metadata).toMatchObject({ actor_id: user.id, actor_username: ERASED });
    expect(exported.text.trimEnd().split("\n")).toHaveLength(3);
    expect(histories[2]!.status).toBe(200);
    expect(histories[2]!.body).toMatchObject({ id: user.id, username: ERASED, status: "erased", revision: 3 });
    // The welcome mail's record stays (it was sent), without its personal content.
    expect((await rows("sent_emails")).filter((r) => r.user_id === user.id)).toMatchObject([
      { kind: "welcome", recipient: ERASED, event_id: welcome!.event_id },
    ]);

    // An erased user is no user: 404 on every read, absent from the list.
    expect(eventual.status).toBe(404);
    expect(strong.status).toBe(404);
    expect(list.map((u) => u.id)).not.toContain(user.id);
    expect(filtered.body.count).toBe(0);

    // It cannot log in, its token stops working, it cannot be erased twice.
    const failedLogin = await call<ErrorBody>("POST", "/v1/auth/login/", { body: { username, password: PASSWORD } });
    expect(failedLogin.status).toBe(401);
    expect((await call("GET", "/v1/users/", { token: own })).status).toBe(401);
    const again = await call<ErrorBody>("POST", `/admin/users/${user.id}/erase`, {
      token: admin.token,
      body: { reason: "again" },
    });
    expect(again.status).toBe(422);
    expect(again.body).toMatchObject({ type: "BusinessRuleViolationError", details: { rule: "user_already_erased" } });

    // The username and both emails it ever had are free for someone else.
    const heir = await createUser({
      username: username.toUpperCase(),
      email: email.toLowerCase(),
      password: "heir-password-1",
    });
    const other = await createUser({ email: movedEmail.toUpperCase() });
    expect(heir.id).not.toBe(user.id);
    expect(other.id).not.toBe(user.id);
  });

  it("the tombstone still says who erased the user, by id and by name", async () => {
    const user = await createUser();
    expect(
      await command("POST", `/admin/users/${user.id}/erase`, admin.token, { reason: "Data protection request #77" }),
    ).toBe(2);
    const events = await call<EventsPage>("GET", `/v1/users/${user.id}/events/`, { token: admin.token });
    // The admin's name is not the erased user's personal data: the audit trail keeps it.
    expect(events.body.results[1]).toMatchObject({
      event_type: "USER_ERASED",
      metadata: { actor_id: admin.id, actor_username: admin.username, reason: "Data protection request #77" },
    });
  });

  it("needs a reason and an admin", async () => {
    const user = await createUser();
    const own = await tokenWithoutLogin(user.id);
    const path = `/admin/users/${user.id}/erase`;
    expect((await call<ErrorBody>("POST", path, { token: admin.token, body: {} })).status).toBe(422);
    expect((await call<ErrorBody>("POST", path, { token: own, body: { reason: "forget me" } })).status).toBe(403);
    const strong = await call<{ user: UserView }>("GET", `/v1/users/${user.id}/?consistency=strong`, {
      token: admin.token,
    });
    expect(strong.body.user).toMatchObject({ username: user.username, status: "active", revision: 1 });
  });
});

describe("replay of one user", () => {
  it("rebuilds the user's row exactly as the live projector built it, without mailing again", async () => {
    const user = await createUser();
    await command("PUT", `/v1/users/${user.id}/`, admin.token, { first_name: "Replayed", email: `r.${user.email}` });
    await command("POST", `/v1/users/${user.id}/suspend/`, admin.token, { reason: "for the replay" });
    await command("POST", `/admin/users/${user.id}/corrections`, admin.token, {
      changes: { last_name: "Fixed" },
      reason: "typo",
    });
    await projected(user.id, 4);
    await mailSettled();
    const live = (await rows("users")).filter((r) => r.id === user.id);
    expect(live).toMatchObject([{ first_name: "Replayed", last_name: "Fixed", status: "suspended", revision: 4 }]);
    const mails = await rows("sent_emails");

    // The row is lost…
    await readDb(user.id).prepare("DELETE FROM users WHERE id = ?").bind(user.id).run();
    expect((await call("GET", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(404);
    // …and replayed from the stream.
    const replay = await call<{ user_id: string; events: number }>("POST", `/admin/users/${user.id}/replay`, {
      token: admin.token,
    });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ user_id: user.id, events: 4 });
    expect((await rows("users")).filter((r) => r.id === user.id)).toEqual(live);
    expect((await call("GET", `/v1/users/${user.id}/`, { token: admin.token })).status).toBe(200);

    // A row left behind (an event never projected) is brought forward; a second replay changes nothing.
    await readDb(user.id)
      .prepare("UPDATE users SET first_name = 'First', status = 'active', revision = 1 WHERE id = ?")
      .bind(user.id)
      .run();
    expect((await call("POST", `/admin/users/${user.id}/replay`, { token: admin.token })).status).toBe(200);
    expect((await call("POST", `/admin/users/${user.id}/replay`, { token: admin.token })).status).toBe(200);
    expect((await rows("users")).filter((r) => r.id === user.id)).toEqual(live);

    expect(await rows("sent_emails")).toEqual(mails);
  });

  it("is for admins only", async () => {
    const user = await createUser();
    const own = await tokenWithoutLogin(user.id);
    expect((await call("POST", `/admin/users/${user.id}/replay`, { token: own })).status).toBe(403);
  });
});

describe("full rebuild of the read model", () => {
  const rebuild = () => env.PROJECTION_REBUILD.getByName("read-model");

  async function progress(): Promise<RebuildProgress> {
    const res = await call<RebuildProgress>("GET", "/admin/projections/rebuild", { token: admin.token });
    expect(res.status).toBe(200);
    return res.body;
  }

  /** Runs the job's alarm until the job says done (the alarm may also fire by itself meanwhile). */
  async function driveToDone(): Promise<RebuildProgress> {
    await vi.waitUntil(
      async () => {
        await runDurableObjectAlarm(rebuild());
        return (await progress()).status === "done";
      },
      { timeout: 20_000, interval: 10 },
    );
    return progress();
  }

  const eventsIn = (users: Row[]) => users.reduce((sum, row) => sum + Number(row.revision), 0);

  it("rebuilds every row identically from the streams, with no mail, and reports its progress", async () => {
    // A few more users in various states, so every kind of event is replayed.
    const deleted = await createUser();
    await command("DELETE", `/v1/users/${deleted.id}/`, admin.token, { reason: "rebuild fodder" });
    const suspended = await createUser();
    await command("POST", `/v1/users/${suspended.id}/suspend/`, admin.token, { reason: "rebuild fodder" });
    await settled();
    const before = await rows("users");
    const mails = await rows("sent_emails");
    expect(before.map((r) => r.status)).toEqual(expect.arrayContaining(["active", "deleted", "suspended"]));

    for (const db of everyReadDb()) await db.prepare("DELETE FROM users").run();
    expect((await wholeList()).length).toBe(0);

    const started = await call<RebuildProgress>("POST", "/admin/projections/rebuild?restart=true", {
      token: admin.token,
    });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ status: "running", users_done: 0, events: 0, finished_at: null });
    const done = await driveToDone();

    const total = (await directoryIds()).length;
    expect(done).toMatchObject({ status: "done", users_done: total, users_total: total, last_error: null });
    expect(done.events).toBe(eventsIn(before));
    expect(done.events).toBeGreaterThan(0);
    expect(done.finished_at).not.toBeNull();
    expect(await rows("users")).toEqual(before);
    expect(await rows("sent_emails")).toEqual(mails);
  });

  it("interrupted after one step, resumes from its cursor and ends with the same rows; reads keep answering", async () => {
    // More users than one step takes (50 per step), so the job has a middle.
    const fresh = await Promise.all(Array.from({ length: 55 }, () => createUser()));
    await settled();
    const ids = await directoryIds();
    const before = await rows("users");
    const mails = await rows("sent_emails");
    expect(before.map((r) => r.id)).toEqual(ids);

    // Damage: the first and the last user's rows lost, the second one's corrupted.
    const [first, second] = ids;
    const last = ids[ids.length - 1]!;
    for (const id of [first!, last]) await readDb(id).prepare("DELETE FROM users WHERE id = ?").bind(id).run();
    await readDb(second!).prepare("UPDATE users SET first_name = 'CORRUPTED' WHERE id = ?").bind(second).run();

    // The job's alarms are held: only the one step this test runs happens, then the object dies.
    await runInDurableObject(rebuild(), (instance: ProjectionRebuild) => {
      vi.spyOn(instance, "alarm").mockResolvedValue(undefined);
    });
    const started = await call<RebuildProgress>("POST", "/admin/projections/rebuild?restart=true", {
      token: admin.token,
    });
    expect(started.body).toMatchObject({ status: "running", users_done: 0 });
    await runInDurableObject(rebuild(), (instance: ProjectionRebuild) =>
      ProjectionRebuild.prototype.step.call(instance),
    );

    const midway = await progress();
    expect(midway.status).toBe("running");
    expect(midway.users_total).toBe(ids.length);
    expect(midway.users_done).toBeGreaterThan(0);
    expect(midway.users_done).toBeLessThan(ids.length);
    // The first step's users are back, the last one is not yet; the API answers all along.
    expect(await d1Revision(first!)).toBeGreaterThan(0);
    expect(await d1Revision(last)).toBe(0);
    const untouched = fresh.find((u) => ![first, second, last].includes(u.id))!;
    expect((await call("GET", `/v1/users/${untouched.id}/`, { token: admin.token })).status).toBe(200);
    const duringList = await call<UserList>("GET", "/v1/users/?page=1&page_size=100", { token: admin.token });
    expect(duringList.status).toBe(200);
    expect(duringList.body.count).toBeGreaterThan(50);

    await evictDurableObject(rebuild());

    // Starting again without restart resumes the same job from its cursor.
    const resumed = await call<RebuildProgress>("POST", "/admin/projections/rebuild", { token: admin.token });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ started_at: midway.started_at });
    expect(resumed.body.users_done).toBeGreaterThanOrEqual(midway.users_done);
    const done = await driveToDone();

    expect(done).toMatchObject({
      status: "done",
      users_done: ids.length,
      users_total: ids.length,
      started_at: midway.started_at,
    });
    // Each stream was read once: the events counted are exactly the events there are.
    expect(done.events).toBe(eventsIn(before));
    expect(await rows("users")).toEqual(before);
    expect(await rows("sent_emails")).toEqual(mails);
  });

  it("a page whose D1 batch fails while the next page is read ahead keeps the cursor before it; the retry redoes it once", async () => {
    // Three pages of 50 at least: the second one's batch fails while the third is being read.
    const have = (await directoryIds()).length;
    await Promise.all(Array.from({ length: Math.max(0, 160 - have) }, () => createUser()));
    await settled();
    const ids = await directoryIds();
    const before = await rows("users");
    for (const db of everyReadDb()) await db.prepare("DELETE FROM users").run();
    // A user of the second page cannot be written back: its read database refuses its row.
    const failing = ids[60]!;
    const refuse = `CREATE TRIGGER refuse_rebuild BEFORE INSERT ON users WHEN NEW.id = '${failing}'
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`;
    await readDb(failing).prepare(refuse).run();

    // The job's own alarm runs it until the failure.
    await call("POST", "/admin/projections/rebuild?restart=true", { token: admin.token });
    await vi.waitUntil(async () => (await progress()).last_error !== null, { timeout: 20_000, interval: 20 });
    const failed = await progress();
    expect(failed).toMatchObject({ status: "running", users_done: 50 });
    expect(failed.last_error).toContain("refused by the test");
    // The first page is back; the third, read while the second was written, wrote nothing.
    expect(await d1Revision(ids[0]!)).toBeGreaterThan(0);
    for (const id of ids.slice(100, 150)) expect(await d1Revision(id)).toBe(0);

    await readDb(failing).prepare("DROP TRIGGER refuse_rebuild").run();
    const done = await driveToDone();
    expect(done).toMatchObject({ status: "done", users_done: ids.length, last_error: null });
    // The failed page counted once: the events are exactly the streams'.
    expect(done.events).toBe(eventsIn(before));
    expect(await rows("users")).toEqual(before);
  });

  it("is for admins only", async () => {
    const user = await createUser();
    const own = await tokenWithoutLogin(user.id);
    expect((await call("POST", "/admin/projections/rebuild", { token: own })).status).toBe(403);
    expect((await call("GET", "/admin/projections/rebuild", { token: own })).status).toBe(403);
  });
});

/**
 * A replay that reaches the row before the live projector applies USER_CREATED makes the projector
 * see USER_CREATED as a duplicate; the welcome must still go out once ("not re-sent", not "never"):
 * it travels apart from the projector, through the mail subscription.
 */
describe("a replay right after a create", () => {
  it("still lets the welcome mail be sent once", async () => {
    const user = await createUser();
    const replay = await call("POST", `/admin/users/${user.id}/replay`, { token: admin.token });
    expect(replay.status).toBe(200);
    const row = await readDb(user.id).prepare("SELECT revision FROM users WHERE id = ?").bind(user.id).first();
    expect(row).not.toBeNull();
    // The welcome is the mail subscription's, whatever the projector saw: it still goes out.
    await welcomed(user.id);
    expect(await mailOf(user.id)).toMatchObject({ recipient: user.email });
  });
});

/** The user's welcome, delivered as the mail subscription would deliver its creation from the feed. */
async function welcomed(userId: string): Promise<void> {
  const [created] = await env.USER_STREAM.getByName(userId).readStream(1, 1);
  await mailSink(env).deliver({ ...created!, position: 1 }, 1);
}

async function rowOf(userId: string) {
  return readDb(userId)
    .prepare("SELECT revision, status, email FROM users WHERE id = ?")
    .bind(userId)
    .first<{ revision: number; status: string; email: string }>();
}
async function mailOf(userId: string) {
  return env.DB.prepare("SELECT recipient, body FROM sent_emails WHERE user_id = ?")
    .bind(userId)
    .first<{ recipient: string; body: string }>();
}

/**
 * A replay (or a full rebuild) may move the row to the tombstone before the consumer sees
 * USER_ERASED, which it then skips as a duplicate: the clean-up of mail records and dead letters
 * must follow from the row being erased, not from applying the event itself.
 */
describe("an erasure and a replay racing it", () => {
  it("an erasure alone blanks the mail record", async () => {
    const user = await createUser({ first_name: "Secretname" });
    await welcomed(user.id);
    const erase = await call("POST", `/admin/users/${user.id}/erase`, { token: admin.token, body: { reason: "gdpr" } });
    expect(erase.status).toBe(200);
    await vi.waitUntil(async () => (await mailOf(user.id))?.recipient === "[erased]", {
      timeout: 10_000,
      interval: 20,
    });
  });

  it("an erasure followed at once by a replay still blanks the mail record", async () => {
    const user = await createUser({ first_name: "Secretname" });
    await welcomed(user.id);
    await vi.waitUntil(async () => (await rowOf(user.id)) !== null, {
      timeout: 10_000,
      interval: 20,
    });
    const erase = await call("POST", `/admin/users/${user.id}/erase`, { token: admin.token, body: { reason: "gdpr" } });
    expect(erase.status).toBe(200);
    const replay = await call("POST", `/admin/users/${user.id}/replay`, { token: admin.token });
    expect(replay.status).toBe(200);
    // The live projector then skips USER_ERASED as a duplicate, and still blanks the mail record.
    await vi.waitUntil(async () => (await mailOf(user.id))?.recipient === "[erased]", {
      timeout: 10_000,
      interval: 20,
    });
    expect((await rowOf(user.id))?.status).toBe("erased");
    const m = await mailOf(user.id);
    expect(m?.recipient).toBe("[erased]");
    expect(m?.body).not.toContain("Secretname");
  });
});
