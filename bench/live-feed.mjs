#!/usr/bin/env node
// The admin feed: how many events per second one LiveFeed object takes while fanning out to W
// admin watchers, to decide between one feed object and one per shard of users.
// The benchmarks' entry (bench/floor/entry.ts) adds POST /bench/feed, which hands a batch of B
// events to the feed object as the projector does after each commit, and POST /bench/noop, the
// same request doing nothing (the baseline, interleaved in rounds). For scale, the same run
// measures the max command rate across users: the most the projector can ever hand the feed.
// Usage: npm run bench:live-feed [-- --watchers 10 --batch 100 --concurrency 8 --seconds 5 --rounds 3]
import * as L from "./lib.mjs";

const opt = L.args({ watchers: 10, batch: 100, concurrency: 8, seconds: 5, rounds: 3, users: 50 });

await L.run("live-feed", 300_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users);

  // For scale: commands/s across users (each is one event for the projector, and for the feed).
  const put = L.renames(users, admin.token);
  const commands = await L.load(server, { concurrency: 32, durationMs: opt.seconds * 1000, make: put });
  await L.waitDrained(server, admin.token);
  console.error(`max ${commands.rps} commands/s across ${users.length} users`);

  const watchers = [];
  for (let i = 0; i < opt.watchers; i++) watchers.push(await openFeed(server, admin));
  await L.sleep(500); // each socket is confirmed by the admin's own object before it turns live
  const batch = Array.from({ length: opt.batch }, (_, i) => event(users[i % users.length].id, i + 2));
  const body = JSON.stringify(batch);
  const post = (path) => ({
    concurrency: opt.concurrency,
    durationMs: opt.seconds * 1000,
    make: () => ({ method: "POST", path, body }),
  });
  const result = await L.compare(server, {
    rounds: opt.rounds,
    baseline: post("/bench/noop"),
    candidates: { feed: post("/bench/feed") },
  });
  const published = result.feed.requests * opt.batch;
  const deadline = Date.now() + 10_000;
  while (watchers.some((w) => w.frames < published) && Date.now() < deadline) await L.sleep(50);
  const received = watchers.map((w) => w.frames);
  const closed = watchers.filter((w) => w.closed).map((w) => w.closed);
  watchers.forEach((w) => w.ws.close(1000, "bench done"));

  const eventsPerSecond = L.round(result.feed.rps * opt.batch, 0);
  const headroom = L.round(eventsPerSecond / commands.rps, 1);
  L.report(
    "live-feed",
    {
      options: opt,
      commands_rps: commands.rps,
      feed: result,
      events_per_second: eventsPerSecond,
      published,
      received,
      closed,
    },
    [
      {
        measure: `events/s into one feed object (${opt.watchers} watchers, batches of ${opt.batch})`,
        value: `${eventsPerSecond}`,
        note: `${result.feed.rps} batches/s, p99 ${result.feed.p99_ms} ms`,
      },
      {
        measure: "× the do-nothing route (same request)",
        value: `${result.feed.ratio_to_baseline}×`,
        note: `baseline ${result.baseline.rps} req/s`,
      },
      {
        measure: "max commands/s across users (what the projector can hand over)",
        value: `${commands.rps}`,
        note: `feed headroom ${headroom}×`,
      },
      {
        measure: "frames per watcher: published / received (min–max) / closed",
        value: `${published} / ${Math.min(...received)}–${Math.max(...received)} / ${closed.length}`,
        note: "",
      },
    ],
  );
});

async function openFeed(server, admin) {
  const t = await L.expectOk(server.url, "POST", "/v1/auth/ticket/", { token: admin.token });
  const ws = new WebSocket(
    `${server.url.replace("http", "ws")}/admin/events/live?ticket=${encodeURIComponent(t.body.ticket)}`,
  );
  const w = { ws, frames: 0, closed: null };
  let readSincePing = 0;
  ws.onmessage = ({ data }) => {
    if (data === "pong") return;
    w.frames += 1;
    // A reading client says so every 128 KiB (LIMITS.pingEveryBytes), or is closed as too slow.
    readSincePing += data.length;
    if (readSincePing >= 128 * 1024) {
      readSincePing = 0;
      ws.send("ping");
    }
  };
  ws.onclose = (e) => (w.closed = e.code === 1000 ? null : { code: e.code, reason: e.reason });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("feed watcher failed to connect"));
  });
  return w;
}

/** An event as the projector would publish it: the audit-trail shape, a typical size. */
function event(userId, revision) {
  return {
    id: crypto.randomUUID(),
    aggregate_id: userId,
    event_type: "USER_UPDATED",
    version: 1,
    timestamp: new Date().toISOString(),
    revision,
    data: { first_name: "Benchmark", last_name: "Feed" },
    metadata: {
      actor_id: null,
      actor_username: "benchadmin",
      request_id: crypto.randomUUID(),
      idempotency_key: null,
      reason: null,
    },
  };
}
