#!/usr/bin/env node
// Live events: one user with W watchers on GET /v1/users/{id}/events/live (tickets, as a browser
// would), commands on that user at half the max rate measured with those W watchers connected;
// time from commit to delivery at every watcher. Baseline in the same run: the same open-loop
// rate with one watcher. The max rate with no watcher is reported for scale.
// Commit time = the event's `timestamp` (set in the object when it commits); delivery time = the
// watcher's clock when the frame arrives: same machine, same clock, millisecond resolution.
// Also checked on every watcher: no gap, no duplicate, in order, not closed.
// Usage: npm run bench:live [-- --watchers 100 --seconds 15 --max-seconds 5 --profile]
import * as L from "./lib.mjs";

const opt = L.args({ watchers: 100, seconds: 15, maxSeconds: 5, concurrency: 32, rate: 0, profile: false });

await L.run("live", 300_000, async () => {
  const { server, admin, users } = await L.startWithUsers(1);
  const user = users[0];
  let head = user.revision;
  const track = (r) => (head = Math.max(head, r.body.revision));
  const put = L.renames([user], admin.token);
  const maxRate = () =>
    L.load(server, { concurrency: opt.concurrency, durationMs: opt.maxSeconds * 1000, make: put, check: track });

  // 1. The max command rate on the user: alone, then with W watchers connected (closed loop).
  const alone = await maxRate();
  const many = await openWatchers(server, admin, user, opt.watchers, head);
  const withWatchers = await maxRate();
  await settle(many, head);
  const rate = opt.rate > 0 ? opt.rate : Math.max(1, Math.round(withWatchers.rps / 2));
  console.error(`max ${alone.rps} commands/s alone, ${withWatchers.rps} with ${opt.watchers} watchers; rate ${rate}/s`);

  // 2. Open loop at `rate` with the W watchers, then (baseline) with one.
  const loaded = await steady(server, admin, user, many, rate, () => head, track);
  many.forEach((w) => w.ws.close(1000, "bench done"));
  const one = await openWatchers(server, admin, user, 1, head);
  const baseline = await steady(server, admin, user, one, rate, () => head, track);
  one.forEach((w) => w.ws.close(1000, "bench done"));

  const x = (a, b) => (a && b ? `${L.round(a / b, 2)}×` : "–");
  L.report(
    "live",
    {
      options: opt,
      max_command_rps: { alone: alone.rps, with_watchers: withWatchers.rps },
      steady_rate: rate,
      watchers: loaded,
      one_watcher: baseline,
    },
    [
      {
        measure: "max commands/s on the user: alone / with watchers",
        value: `${alone.rps} / ${withWatchers.rps}`,
        baseline: "–",
        ratio: x(withWatchers.rps, alone.rps),
      },
      {
        measure: "steady rate (open loop)",
        value: `${loaded.achieved_rate}/s`,
        baseline: `${baseline.achieved_rate}/s`,
        ratio: "",
      },
      {
        measure: `commit → delivery p50 (${opt.watchers} watchers vs 1)`,
        value: `${loaded.delivery.p50_ms} ms`,
        baseline: `${baseline.delivery.p50_ms} ms`,
        ratio: x(loaded.delivery.p50_ms, baseline.delivery.p50_ms),
      },
      {
        measure: "commit → delivery p99",
        value: `${loaded.delivery.p99_ms} ms`,
        baseline: `${baseline.delivery.p99_ms} ms`,
        ratio: x(loaded.delivery.p99_ms, baseline.delivery.p99_ms),
      },
      {
        measure: "command latency p50 / p99",
        value: `${loaded.commands.p50_ms} / ${loaded.commands.p99_ms} ms`,
        baseline: `${baseline.commands.p50_ms} / ${baseline.commands.p99_ms} ms`,
        ratio: x(loaded.commands.p99_ms, baseline.commands.p99_ms),
      },
      {
        measure: "frames delivered / watchers broken (gap, duplicate, close)",
        value: `${loaded.delivery.n} / ${loaded.broken}`,
        baseline: `${baseline.delivery.n} / ${baseline.broken}`,
        ratio: "",
      },
    ],
  );
  if (loaded.profile) for (const p of loaded.profile) console.error(`profile ${p.target}:`, p.top);
});

/** Open-loop commands at `rate` for opt.seconds while `watchers` listen; delivery and command latencies. */
async function steady(server, admin, user, watchers, rate, head, track) {
  const delays = [];
  for (const w of watchers) w.onEvent = (event, at) => delays.push(at - Date.parse(event.timestamp));
  const commandLatencies = [];
  let failed = 0;
  const drive = async () => {
    const inFlight = new Set();
    const t0 = L.now();
    const total = Math.round(rate * opt.seconds);
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / rate - L.now();
      if (wait > 1) await L.sleep(wait);
      const spec = { method: "PUT", path: `/v1/users/${user.id}/`, token: admin.token, body: { last_name: `L${i}` } };
      const job = L.request(server.url, spec.method, spec.path, spec)
        .then((r) => (r.status === 200 ? (commandLatencies.push(r.ms), track(r)) : (failed += 1)))
        .catch(() => (failed += 1));
      inFlight.add(job);
      void job.finally(() => inFlight.delete(job));
    }
    await Promise.all(inFlight);
    return L.round(total / ((L.now() - t0) / 1000), 1);
  };
  let profile = null;
  let achieved;
  if (opt.profile && watchers.length > 1) {
    const profiled = await L.cpuProfile(server, drive);
    achieved = profiled.value;
    profile = profiled.profiles.map((p) => ({ target: p.target, top: p.top }));
  } else achieved = await drive();
  await settle(watchers, head());
  const broken = watchers.filter((w) => w.broken || w.closed || w.last !== head()).length;
  console.error(`${watchers.length} watcher(s): ${achieved} commands/s, ${delays.length} frames, ${broken} broken`);
  return {
    watchers: watchers.length,
    achieved_rate: achieved,
    failed,
    broken,
    delivery: L.summarize(delays),
    commands: L.summarize(commandLatencies),
    profile,
  };
}

/** Waits (bounded) until every watcher got the event at `revision`. */
async function settle(watchers, revision) {
  const deadline = Date.now() + 15_000;
  while (watchers.some((w) => w.last < revision && !w.closed) && Date.now() < deadline) await L.sleep(20);
}

async function openWatchers(server, admin, user, count, head) {
  const watchers = [];
  for (let i = 0; i < count; i++) watchers.push(await openWatcher(server, admin, user, head));
  await Promise.all(watchers.map((w) => w.ready));
  return watchers;
}

/** A watcher without from_revision: caught_up at the head, then live frames, checked for continuity. */
async function openWatcher(server, admin, user, from) {
  const t = await L.expectOk(server.url, "POST", "/v1/auth/ticket/", { token: admin.token });
  const ticket = encodeURIComponent(t.body.ticket);
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/users/${user.id}/events/live?ticket=${ticket}`);
  const w = { ws, last: from, broken: false, closed: null, onEvent: null };
  w.ready = new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error("watcher failed to connect"));
    let readSincePing = 0;
    ws.onmessage = (message) => {
      const at = Date.now();
      // A reading client says so every 128 KiB (LIMITS.pingEveryBytes), or is closed as too slow.
      readSincePing += message.data.length;
      if (readSincePing >= 128 * 1024) {
        readSincePing = 0;
        ws.send("ping");
      }
      if (message.data === "pong") return;
      const frame = JSON.parse(message.data);
      if (frame.type === "caught_up") {
        w.last = frame.revision;
        return resolve();
      }
      if (frame.revision !== w.last + 1) w.broken = true;
      w.last = frame.revision;
      w.onEvent?.(frame, at);
    };
  });
  ws.onclose = (event) => (w.closed = event.code === 1000 ? null : { code: event.code, reason: event.reason });
  return w;
}
