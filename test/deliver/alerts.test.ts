import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { checkFailingSubscriptions, runAlertChecks } from "../../src/deliver/alerts";
import { mailSink } from "../../src/deliver/mail-sink";
import { subscription } from "../../src/objects";
import { alertOpenLetters, checkProjectionLag } from "../../src/read/alerts";
import { recordDeadLetters, recordLastErrors, FINAL_ATTEMPT } from "../../src/read/dead-letters";
import { feedEnd } from "../../src/read/feed";
import { recordUnsendable } from "../../src/write/unsendable";
import { fakeMessage } from "../read/fixtures";
import { adminSession, call } from "../support/api";
import { userCreated } from "../support/builders";
import { RECEIVER_PORT } from "../support/receiver-port";

/**
 * Operations alerts (`ops.*`): written into the feed once per incident by their producers (the
 * dead-letter path, the cron's checks), and delivered by the subscriptions that ask for them, to
 * the test receiver of test/node-support/receiver.ts.
 */
const receiver = `http://127.0.0.1:${RECEIVER_PORT}`;
let token: string;

interface Logged {
  headers: Record<string, string>;
  body: string;
  status: number;
}

interface AlertRow {
  position: number;
  event_id: string;
  user_id: string;
  revision: number;
  event_type: string;
  event: string;
}

beforeAll(async () => {
  token = (await adminSession()).token;
});

async function alertRows(idPrefix: string): Promise<AlertRow[]> {
  // Not LIKE: D1 refuses patterns as long as these ids.
  const rows = await env.DB.prepare(
    "SELECT * FROM feed WHERE user_id = 'ops' AND substr(event_id, 1, length(?1)) = ?1 ORDER BY position",
  )
    .bind(idPrefix)
    .all<AlertRow>();
  return rows.results;
}

async function letterId(messageId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT id FROM dead_letters WHERE message_id = ?").bind(messageId).first<{
    id: number;
  }>();
  return row!.id;
}

async function received(name: string): Promise<Logged[]> {
  return (await (await fetch(`${receiver}/log/${name}`)).json()) as Logged[];
}

async function subscribe(name: string, extra: Record<string, unknown> = {}) {
  const res = await call<{ id: string; secret: string }>("POST", "/admin/subscriptions", {
    token,
    body: { url: `${receiver}/hook/${name}`, from_position: await feedEnd(env.DB), ...extra },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** The verified payloads a receiver took (2xx), in arrival order. */
function payloads(requests: Logged[], secret: string) {
  return requests
    .filter((r) => r.status === 200)
    .map(
      (r) =>
        new Webhook(secret).verify(r.body, r.headers) as {
          type: string;
          timestamp: string;
          data: { id: string; aggregate_id: string; event_type: string; data: Record<string, unknown> };
        },
    );
}

describe("ops.dead_letter", () => {
  it("a dead-lettered message makes exactly one alert, however often its letter is recorded or checked", async () => {
    const user = crypto.randomUUID();
    const body = userCreated(user);
    const message = fakeMessage(body, { attempts: FINAL_ATTEMPT });
    // The projector's last try records the real error; the dead-letter queue's consumer then records
    // the same exhaustion again, and a redelivered dead-letter message a third time.
    await recordLastErrors(env.DB, [message], "D1_ERROR: boom\n  at somewhere", "users");
    await recordDeadLetters([fakeMessage(body, { id: message.id })], env.DB);
    await recordDeadLetters([fakeMessage(body, { id: message.id })], env.DB);
    await alertOpenLetters(env.DB);
    // The user's object re-publishes the event each round; a round that fails again counts another
    // exhaustion on the same open letter: the same incident.
    await recordLastErrors(env.DB, [fakeMessage(body, { id: message.id, attempts: FINAL_ATTEMPT })], "again", "users");
    const id = await letterId(body.id);
    const letter = await env.DB.prepare("SELECT exhaustions, first_failed_at FROM dead_letters WHERE id = ?")
      .bind(id)
      .first<{ exhaustions: number; first_failed_at: string }>();
    expect(letter!.exhaustions).toBe(2);
    const rows = await alertRows(`ops.dead_letter:${id}:`);
    expect(rows).toHaveLength(1);
    const alert = JSON.parse(rows[0]!.event) as { id: string; aggregate_id: string; data: Record<string, unknown> };
    expect(alert).toMatchObject({
      id: `ops.dead_letter:${id}:${letter!.first_failed_at}`,
      aggregate_id: "ops",
      version: 1,
      event_type: "ops.dead_letter",
      data: {
        dead_letter_id: id,
        event_id: body.id,
        user_id: user,
        revision: 1,
        projection: "users",
        exhaustions: 1,
        error: "D1_ERROR: boom",
        open_since: letter!.first_failed_at,
      },
    });
    // Facts only: the event itself (with the user's name and address) is not in the alert.
    expect(rows[0]!.event).not.toContain(body.data.email);

    // Re-driven, and failing again: a new incident, a second alert.
    const redrivenAt = new Date(Date.now() + 1000).toISOString();
    await env.DB.prepare("UPDATE dead_letters SET state = 'redriven', redriven_at = ? WHERE id = ?")
      .bind(redrivenAt, id)
      .run();
    await recordDeadLetters([fakeMessage(body)], env.DB);
    await recordDeadLetters([fakeMessage(body)], env.DB);
    expect((await alertRows(`ops.dead_letter:${id}:`)).map((r) => r.event_id)).toEqual([
      `ops.dead_letter:${id}:${letter!.first_failed_at}`,
      `ops.dead_letter:${id}:${redrivenAt}`,
    ]);
  });

  it("a letter recorded where nobody alerts (a user's object) gets its alert from the cron's check, once", async () => {
    const user = crypto.randomUUID();
    const event = { id: crypto.randomUUID(), aggregate_id: user, revision: 3 };
    await recordUnsendable(env.DB, event, "{}", "event larger than a queue message");
    const id = await letterId(event.id);
    expect(await alertRows(`ops.dead_letter:${id}:`)).toHaveLength(0);
    await alertOpenLetters(env.DB);
    await alertOpenLetters(env.DB);
    expect(await alertRows(`ops.dead_letter:${id}:`)).toHaveLength(1);
  });

  it("the dead-letter queue's consumer wakes the subscriptions, and an ops.* subscriber receives the alert", async () => {
    const ops = await subscribe("ops-letters", { event_types: ["ops.*"] });
    const users = await subscribe("users-only");
    const body = userCreated(crypto.randomUUID());
    const message = fakeMessage(body);
    const { default: worker } = await import("../../src/index");
    const { createMessageBatch } = await import("cloudflare:test");
    await worker.queue(
      createMessageBatch("user-events-dlq", [{ id: message.id, body, timestamp: new Date(), attempts: 1 }]),
      env,
    );
    const id = await letterId(body.id);
    await vi.waitUntil(
      async () =>
        payloads(await received("ops-letters"), ops.secret).some((p) => p.data.id.startsWith(`ops.dead_letter:${id}:`)),
      { timeout: 15_000, interval: 100 },
    );
    const alert = payloads(await received("ops-letters"), ops.secret).find((p) =>
      p.data.id.startsWith(`ops.dead_letter:${id}:`),
    )!;
    expect(alert.type).toBe("ops.dead_letter");
    expect(alert.data.data).toMatchObject({ dead_letter_id: id, event_id: body.id });
    // A subscription with no event_types gets every user event, and no alert: it reads past the alert's
    // position without taking it in.
    const [row] = await alertRows(`ops.dead_letter:${id}:`);
    await subscription(env, users.id).wake();
    await vi.waitUntil(async () => ((await subscription(env, users.id).view())?.position ?? 0) >= row!.position, {
      timeout: 10_000,
      interval: 100,
    });
    const taken = await subscription(env, users.id).deliveries({ limit: 100 });
    expect(taken!.results.filter((d) => d.event_type.startsWith("ops."))).toEqual([]);
    expect(payloads(await received("users-only"), users.secret).filter((p) => p.type.startsWith("ops."))).toEqual([]);
    // Nor does the welcome mail's sink want an alert.
    expect(mailSink(env).wants({ ...JSON.parse(row!.event), position: row!.position })).toBe(false);
  });
});

describe("ops.projection_lagging", () => {
  const lagging = (name: string, ageMs: number | null) => [{ name, users_behind: 2, oldest_owed_age_ms: ageMs }];

  it("alerts once per incident: again only after a check found the projection caught up", async () => {
    const name = `test-${crypto.randomUUID()}`;
    const t0 = new Date("2026-12-06T20:00:00.000Z");
    expect(await checkProjectionLag(env.DB, lagging(name, 120_000), 60_000, t0)).toEqual([name]);
    await checkProjectionLag(env.DB, lagging(name, 420_000), 60_000, new Date(t0.getTime() + 300_000));
    await checkProjectionLag(env.DB, lagging(name, 59_000), 60_000, new Date(t0.getTime() + 600_000));
    let rows = await alertRows(`ops.projection_lagging:${name}:`);
    expect(rows.map((r) => r.event_id)).toEqual([`ops.projection_lagging:${name}:${t0.toISOString()}`]);
    expect(JSON.parse(rows[0]!.event).data).toEqual({
      projection: name,
      lag_seconds: 120,
      users_behind: 2,
      threshold_seconds: 60,
      lagging_since: t0.toISOString(),
    });
    // Caught up (59 s is not past the threshold): the next lag is a new incident, with its own alert.
    const t1 = new Date(t0.getTime() + 900_000);
    await checkProjectionLag(env.DB, lagging(name, 61_000), 60_000, t1);
    await checkProjectionLag(env.DB, lagging(name, 361_000), 60_000, new Date(t1.getTime() + 300_000));
    rows = await alertRows(`ops.projection_lagging:${name}:`);
    expect(rows.map((r) => r.event_id)).toEqual([
      `ops.projection_lagging:${name}:${t0.toISOString()}`,
      `ops.projection_lagging:${name}:${t1.toISOString()}`,
    ]);
    expect(rows[1]!.revision).toBeGreaterThan(rows[0]!.revision);
  });

  it("the cron's checks run against the real status without alerting when nothing lags", async () => {
    const before = await env.DB.prepare(
      "SELECT count(*) AS n FROM feed WHERE event_type = 'ops.projection_lagging'",
    ).first<{ n: number }>();
    await runAlertChecks(env);
    const after = await env.DB.prepare(
      "SELECT count(*) AS n FROM feed WHERE event_type = 'ops.projection_lagging'",
    ).first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });
});

describe("ops.subscription_failing", () => {
  it("a subscription failing past the attempts threshold is alerted once, to those asking for it", async () => {
    const watcher = await subscribe("ops-watcher", { event_types: ["ops.subscription_failing"] });
    await fetch(`${receiver}/mode/broken`, { method: "PUT", body: JSON.stringify({ status: 500, times: -1 }) });
    const broken = await subscribe("broken");
    const user = crypto.randomUUID();
    const event = { ...userCreated(user), timestamp: new Date().toISOString() };
    await env.DB.prepare(
      "INSERT INTO feed (event_id, user_id, revision, event_type, timestamp, event) VALUES (?, ?, 1, 'USER_CREATED', ?, ?)",
    )
      .bind(event.id, user, event.timestamp, JSON.stringify(event))
      .run();
    await subscription(env, broken.id).wake();
    // ALERT_SUBSCRIPTION_FAILING_ATTEMPTS is 2 in the tests (vitest.config.ts).
    await vi.waitUntil(async () => (await received("broken")).length >= 2, { timeout: 15_000, interval: 100 });
    expect(await checkFailingSubscriptions(env)).toContain(broken.id);
    // The cron checks again (and wakes the subscriptions): still one alert for this incident.
    const { default: worker } = await import("../../src/index");
    const { createExecutionContext, createScheduledController, waitOnExecutionContext } =
      await import("cloudflare:test");
    const ctx = createExecutionContext();
    worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const rows = await alertRows(`ops.subscription_failing:${broken.id}:`);
    expect(rows).toHaveLength(1);
    const data = JSON.parse(rows[0]!.event).data as Record<string, unknown>;
    expect(data).toMatchObject({ subscription_id: broken.id, event_id: event.id, last_status: 500 });
    expect(data.attempts).toBeGreaterThanOrEqual(2);
    // No URL (it may carry a token) and no event in the alert.
    expect(rows[0]!.event).not.toContain(receiver);

    // Woken by the cron, the watcher sends it.
    await vi.waitUntil(
      async () => payloads(await received("ops-watcher"), watcher.secret).some((p) => p.data.id === rows[0]!.event_id),
      { timeout: 15_000, interval: 100 },
    );
    const got = payloads(await received("ops-watcher"), watcher.secret);
    expect(got.every((p) => p.type === "ops.subscription_failing")).toBe(true);
  });
});

describe("GET /admin/feed", () => {
  it("serves user events only, unless event_types asks for alerts", async () => {
    const name = `feed-${crypto.randomUUID()}`;
    const after = await feedEnd(env.DB);
    await checkProjectionLag(env.DB, [{ name, users_behind: 1, oldest_owed_age_ms: 999_000 }], 60_000);
    type Page = { events: { id: string; event_type: string; position: number }[] };
    const plain = await call<Page>("GET", `/admin/feed?after=${after}`, { token });
    expect(plain.status).toBe(200);
    expect(plain.body.events.filter((e) => e.event_type.startsWith("ops."))).toEqual([]);
    const ops = await call<Page>("GET", `/admin/feed?after=${after}&event_types=ops.*`, { token });
    expect(ops.status).toBe(200);
    expect(ops.body.events.map((e) => e.event_type)).toContain("ops.projection_lagging");
    expect(ops.body.events.every((e) => e.event_type.startsWith("ops."))).toBe(true);
    const one = await call<Page>("GET", `/admin/feed?after=${after}&event_types=ops.dead_letter`, { token });
    expect(one.body.events.filter((e) => e.event_type === "ops.projection_lagging")).toEqual([]);
  });
});
