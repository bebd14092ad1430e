#!/usr/bin/env node
// Webhooks: what subscriptions cost a command and how fast their deliveries arrive, against a
// receiver on loopback that answers at once (bench/receiver.mjs), three ways in one run:
//  1. cost: commands across many users (closed loop) with no subscription and with 3, interleaved
//     in rounds; each round's deliveries are awaited before the next, so none is left to the next.
//  2. latency: at half the max command rate (open loop) with 3 subscriptions, commit → received
//     (the event's timestamp to its arrival at the receiver) p50/p99 over every delivery; then the
//     floor at the same rate: a bare object's append POSTed straight to 3 receivers after the commit
//     (`POST /bench/notify/{id}`, bench/floor/entry.ts), no outbox, queue, projector or feed.
//  3. rate: a burst at full speed with 1 subscription: events per second delivered, against events
//     per second the projector put into D1 over the same burst (both from the burst's start to the
//     last one done); then a replay of the same events from the subscription's position before the
//     burst: the rate a backlog drains at, against the same projector rate.
// Usage: npm run bench:webhooks [-- --users 200 --concurrency 32 --seconds 5 --rounds 3 --latency-seconds 15 --rate 45 --profile 1]
// (--profile 1: a CPU profile of the isolate over the latency phase, its top functions printed.)
// --drain N: instead of the three phases, CPU per delivery (see `drainCpu` below): N commands make a
// backlog, then in each of --rounds rounds a subscription from position 0 drains it and the runtime's
// CPU (/proc, less its idle rate) is divided by the deliveries, against the floor object
// (`POST /bench/deliver`, bench/floor/entry.ts) sending as many POSTs unsigned, signed with WebCrypto
// and signed with the standardwebhooks package, and WebCrypto-signed with one SQLite write per
// delivery (`floor_recorded`); with --profile 1, one more drain of each, profiled.
// --rate: the latency phase's commands/s (default: half the max measured in phase 1), so that two
// builds can be compared at the same rate: the latency grows steeply with it.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as L from "./lib.mjs";
import { startReceiver } from "./receiver.mjs";

const opt = L.args({
  users: 200,
  concurrency: 32,
  seconds: 5,
  rounds: 3,
  latencySeconds: 15,
  burstSeconds: 5,
  rate: 0,
  profile: 0,
  drain: 0,
});

await L.run("webhooks", 420_000, async () => {
  if (opt.drain > 0) return drainCpu();
  const receiver = await startReceiver();
  const { server, admin, users } = await L.startWithUsers(opt.users, {
    vars: { WEBHOOK_INSECURE_HOSTS: "127.0.0.1" },
  });
  const latest = new Map(users.map((u) => [u.id, u.revision]));
  const put = L.renames(users, admin.token);
  const track = (r, spec) => latest.set(spec.userId, Math.max(latest.get(spec.userId), r.body.revision));
  const pending = () => users.map((u) => ({ id: u.id, revision: latest.get(u.id) }));
  const subscribe = async (path, body = {}) =>
    (
      await L.expectOk(
        server.url,
        "POST",
        "/admin/subscriptions",
        { token: admin.token, body: { url: `${receiver.url}${path}`, ...body } },
        201,
      )
    ).body;
  const unsubscribe = (id) =>
    L.expectOk(server.url, "DELETE", `/admin/subscriptions/${id}`, { token: admin.token }, 204);
  /** Waits until `path` has received `n` distinct events; resolves the time it happened. */
  const received = async (path, n, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (receiver.count(path) < n) {
      if (Date.now() > deadline) throw new Error(`${path}: ${receiver.count(path)} of ${n} deliveries`);
      await L.sleep(10);
    }
    return L.now();
  };
  const load = (durationMs) =>
    L.load(server, { concurrency: opt.concurrency, durationMs, make: put, check: track, maxRequests: 50_000 });

  // 1. Cost: no subscription against three, interleaved.
  const none = [];
  const three = [];
  for (let r = 0; r < opt.rounds; r++) {
    const a = await load(opt.seconds * 1000);
    none.push(a);
    await L.waitProjected(server, admin.token, pending());
    const paths = [0, 1, 2].map((k) => `/cost/r${r}/s${k}`);
    const subs = await Promise.all(paths.map((p) => subscribe(p)));
    const b = await load(opt.seconds * 1000);
    three.push(b);
    await Promise.all(paths.map((p) => received(p, b.n)));
    await Promise.all(subs.map((s) => unsubscribe(s.id)));
    console.error(`  round ${r + 1}/${opt.rounds}: none ${a.rps}/s, 3 subscriptions ${b.rps}/s`);
  }
  const costRatios = three.map((b, i) => b.rps / none[i].rps);
  const costRatio = L.round(L.median(costRatios), 3);
  const maxRps = L.median(none.map((x) => x.rps));

  // 2. Latency at half the max rate with three subscriptions; then the platform's floor at the same
  // rate: each request appends in a bare object that POSTs the event to three receiver paths.
  const rate = opt.rate > 0 ? opt.rate : Math.max(1, Math.round(maxRps / 2));
  const total = Math.round(rate * opt.latencySeconds);
  /** Sends `make(i)` at `rate` a second (open loop); resolves the rate achieved and the 200s. */
  const openLoop = async (make, onOk = () => {}) => {
    const inFlight = new Set();
    let acked = 0;
    const t0 = L.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / rate - L.now();
      if (wait > 1) await L.sleep(wait);
      const spec = make(i);
      const job = L.request(server.url, spec.method, spec.path, spec)
        .then((res) => {
          if (res.status !== 200) return;
          acked += 1;
          onOk(res, spec);
        })
        .catch(() => {});
      inFlight.add(job);
      job.finally(() => inFlight.delete(job));
    }
    await Promise.all(inFlight);
    return { achieved: L.round(total / ((L.now() - t0) / 1000), 1), acked };
  };
  /** Commit → received over every delivery to `paths`, once each has `n`. */
  const latencyOf = async (paths, n) => {
    await Promise.all(paths.map((p) => received(p, n)));
    const latencies = paths.flatMap((p) => receiver.byPath.get(p).map((d) => d.at - d.committedAt));
    return L.summarize(latencies, { deliveries: latencies.length });
  };
  const latPaths = [0, 1, 2].map((k) => `/latency/s${k}`);
  const latSubs = await Promise.all(latPaths.map((p) => subscribe(p)));
  // --profile 1: the isolate's CPU profile over the latency phase, top functions by self time.
  const { achieved, acked } = opt.profile
    ? await L.cpuProfile(server, () => openLoop(put, track), { top: 30 }).then(({ value, profiles }) => {
        for (const p of profiles)
          console.error(`profile of ${p.target}:\n${p.top.map((f) => `  ${f.self_pct}%  ${f.fn}`).join("\n")}`);
        return value;
      })
    : await openLoop(put, track);
  const latency = await latencyOf(latPaths, acked);
  await Promise.all(latSubs.map((s) => unsubscribe(s.id)));
  console.error(`latency at ${achieved}/s: p50 ${latency.p50_ms} ms, p99 ${latency.p99_ms} ms`);
  const floorPaths = [0, 1, 2].map((k) => `/floor/s${k}`);
  const urls = floorPaths.map((p) => `${receiver.url}${p}`);
  const floorRun = await openLoop((i) => ({
    method: "POST",
    path: `/bench/notify/${users[i % users.length].id}`,
    body: { urls },
  }));
  const floor = await latencyOf(floorPaths, floorRun.acked);
  const overFloor = L.round(latency.p99_ms / Math.max(1, floor.p99_ms), 1);
  console.error(`floor at ${floorRun.achieved}/s: p50 ${floor.p50_ms} ms, p99 ${floor.p99_ms} ms`);

  // 3. Delivery rate against the projector's, over one burst; then the same events as a backlog.
  await L.waitProjected(server, admin.token, pending());
  const rateSub = await subscribe("/rate");
  const before = rateSub.position;
  const burstStart = L.now();
  const burst = await load(opt.burstSeconds * 1000);
  const [projectedAt, deliveredAt] = await Promise.all([
    L.waitProjected(server, admin.token, pending(), { timeoutMs: 120_000 }).then(() => L.now()),
    received("/rate", burst.n),
  ]);
  const projectorRate = burst.n / ((projectedAt - burstStart) / 1000);
  const deliveryRate = burst.n / ((deliveredAt - burstStart) / 1000);
  const replayStart = L.now();
  const firstRound = receiver.byPath.get("/rate").length;
  await L.expectOk(server.url, "POST", `/admin/subscriptions/${rateSub.id}/replay`, {
    token: admin.token,
    body: { from_position: before },
  });
  const deadline = Date.now() + 120_000;
  while (receiver.byPath.get("/rate").length < firstRound + burst.n) {
    if (Date.now() > deadline) throw new Error("replay did not finish in 120 s");
    await L.sleep(10);
  }
  const replayRate = burst.n / ((L.now() - replayStart) / 1000);
  await unsubscribe(rateSub.id);
  await receiver.close();

  const ratioRate = L.round(deliveryRate / projectorRate, 3);
  const ratioReplay = L.round(replayRate / projectorRate, 3);
  const pass = {
    cost: costRatio >= 0.9,
    latency: latency.p99_ms !== null && latency.p99_ms <= 1000,
    rate: ratioRate >= 0.5,
  };
  L.report(
    "webhooks",
    {
      options: opt,
      cost: { none, three, ratios: costRatios.map((x) => L.round(x, 3)), ratio: costRatio },
      latency: {
        rate,
        achieved,
        ...latency,
        floor: { achieved: floorRun.achieved, ...floor },
        p99_over_floor: overFloor,
      },
      rate: {
        burst_events: burst.n,
        projector_events_per_s: L.round(projectorRate, 1),
        delivery_events_per_s: L.round(deliveryRate, 1),
        replay_events_per_s: L.round(replayRate, 1),
        ratio: ratioRate,
        replay_ratio: ratioReplay,
      },
      targets: pass,
    },
    [
      {
        measure: "commands with 3 subscriptions ÷ with none (per round)",
        value: `${costRatio} (${costRatios.map((x) => L.round(x, 2)).join(" / ")}; none ${maxRps}/s)`,
        target: "≥ 0.9",
        verdict: L.verdict(pass.cost),
      },
      {
        measure: `commit → webhook received p50 / p99 (3 subscriptions, ${achieved}/s)`,
        value: `${latency.p50_ms} / ${latency.p99_ms} ms (${latency.deliveries} deliveries)`,
        target: "p99 ≤ 1000 ms",
        verdict: L.verdict(pass.latency),
      },
      {
        measure: `floor: a bare object's append POSTed to 3 receivers, p50 / p99 (${floorRun.achieved}/s)`,
        value: `${floor.p50_ms} / ${floor.p99_ms} ms (${floor.deliveries} deliveries); ours ÷ floor at p99: ${overFloor}×`,
        target: "–",
        verdict: "",
      },
      {
        measure: `delivery rate ÷ projector rate (burst of ${burst.n})`,
        value: `${ratioRate} (${L.round(deliveryRate, 1)} / ${L.round(projectorRate, 1)} events/s)`,
        target: "≥ 0.5",
        verdict: L.verdict(pass.rate),
      },
      {
        measure: "replay of the burst ÷ projector rate",
        value: `${ratioReplay} (${L.round(replayRate, 1)} events/s)`,
        target: "–",
        verdict: "",
      },
    ],
  );
});

/**
 * CPU per delivery: locally every object, the projector and the commands share one workerd thread,
 * so what a delivery costs that thread decides whether three subscriptions keep up at half the max.
 * A backlog of `--drain` commands (plus the users' creations) is in the feed; each round measures,
 * after 3 s of idle CPU, the runtime's CPU while each case sends every event once to the receiver.
 */
async function drainCpu() {
  const receiver = await startReceiver();
  const { server, admin, users } = await L.startWithUsers(opt.users, {
    vars: { WEBHOOK_INSECURE_HOSTS: "127.0.0.1" },
  });
  await L.load(server, {
    concurrency: opt.concurrency,
    durationMs: 600_000,
    maxRequests: opt.drain,
    make: L.renames(users, admin.token),
  });
  await L.waitDrained(server, admin.token, { timeoutMs: 120_000 });
  // The deliveries a subscription from 0 makes: every user event of the feed.
  const events = [];
  for (let after = 0; ;) {
    const page = await L.expectOk(server.url, "GET", `/admin/feed?after=${after}&limit=1000`, { token: admin.token });
    events.push(...page.body.events);
    if (page.body.events.length < 1000) break;
    after = page.body.next_after;
  }
  const n = events.length;
  const runtime = runtimePid(server);
  const secret = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
  let runs = 0;
  const floor =
    (sign, record = false) =>
    async () => {
      const path = `/drain/${sign}/${runs++}`;
      const answer = await L.expectOk(server.url, "POST", "/bench/deliver", {
        body: {
          url: `${receiver.url}${path}`,
          events: events.slice(0, 200),
          count: n,
          sign,
          record,
          secret,
          inFlight: 6,
        },
        timeoutMs: 300_000,
      });
      if (answer.body.delivered !== n) throw new Error(`floor ${sign}: ${answer.body.delivered} of ${n}`);
    };
  const ours = async () => {
    const path = `/drain/ours/${runs++}`;
    const sub = (
      await L.expectOk(
        server.url,
        "POST",
        "/admin/subscriptions",
        { token: admin.token, body: { url: `${receiver.url}${path}`, from_position: 0 } },
        201,
      )
    ).body;
    // Every event once (distinct webhook-ids), and no repeats: a repeat would end the wait early
    // and spread the CPU over deliveries that were not all made.
    const deadline = Date.now() + 300_000;
    while (receiver.count(path) < n) {
      if (Date.now() > deadline) throw new Error(`${path}: ${receiver.count(path)} of ${n} events`);
      await L.sleep(5);
    }
    const requests = receiver.byPath.get(path).length;
    if (requests !== n) throw new Error(`${path}: ${requests} requests for ${n} events (repeats)`);
    return () => L.expectOk(server.url, "DELETE", `/admin/subscriptions/${sub.id}`, { token: admin.token }, 204);
  };
  const cases = {
    floor_none: floor("none"),
    floor_webcrypto: floor("webcrypto"),
    floor_library: floor("library"),
    floor_recorded: floor("webcrypto", true),
    ours,
  };
  const perDelivery = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  const wall = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 1; round <= opt.rounds; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const idleBefore = cpuMs(runtime);
      await L.sleep(3000);
      const idleRate = (cpuMs(runtime) - idleBefore) / 3000;
      const before = cpuMs(runtime);
      const t0 = L.now();
      const cleanup = await run();
      const elapsed = L.now() - t0;
      const ms = (cpuMs(runtime) - before - idleRate * elapsed) / n;
      await cleanup?.();
      perDelivery[name].push(L.round(ms, 3));
      wall[name].push(L.round(n / (elapsed / 1000), 0));
      console.error(
        `  round ${round}/${opt.rounds} ${name}: ${L.round(ms, 3)} ms CPU per delivery, ${L.round(n / (elapsed / 1000), 0)}/s`,
      );
    }
  }
  const profiles = {};
  mkdirSync(path.join(L.ROOT, "bench", "results"), { recursive: true });
  if (opt.profile) {
    for (const name of ["floor_webcrypto", "ours"]) {
      const { value: cleanup, profiles: found } = await L.cpuProfile(server, cases[name], { top: 15 });
      await cleanup?.();
      profiles[name] = found.map((p) => ({ target: p.target, top: p.top }));
      // The whole profile, for Chrome DevTools (or a caller breakdown): bench/results/, not committed.
      found.forEach((p, i) =>
        writeFileSync(
          path.join(L.ROOT, "bench", "results", `webhooks-drain-${name}-${i}.cpuprofile`),
          JSON.stringify(p.profile),
        ),
      );
      for (const p of found)
        console.error(`profile of ${name} (${p.target}):\n${p.top.map((f) => `  ${f.self_pct}%  ${f.fn}`).join("\n")}`);
    }
  }
  await receiver.close();
  const median = (name) => L.median(perDelivery[name]);
  // Each round's case over its floor, measured a minute apart at most, then the median: steadier
  // than the ratio of the medians while other work moves the machine's speed from round to round.
  const sameRound = (name, floor) => L.round(L.median(perDelivery[name].map((ms, i) => ms / perDelivery[floor][i])), 2);
  const rows = Object.keys(cases).map((name) => ({
    case: name,
    "runtime CPU ms per delivery (median)": L.round(median(name), 3),
    "per round": perDelivery[name].join(" / "),
    "deliveries/s (median)": L.median(wall[name]),
    "× floor_webcrypto": L.round(median(name) / median("floor_webcrypto"), 2),
    "× floor_none": L.round(median(name) / median("floor_none"), 2),
    "× floor_webcrypto, same round (median)": sameRound(name, "floor_webcrypto"),
    "× floor_recorded, same round (median)": sameRound(name, "floor_recorded"),
  }));
  L.report(
    "webhooks-drain",
    { options: opt, deliveries: n, per_delivery_ms: perDelivery, deliveries_per_s: wall, profiles },
    rows,
  );
}

/** The workerd that runs the service: the one started with an inspector (bench/cpu.mjs). */
function runtimePid(server) {
  for (const pid of L.groupPids(server.child.pid)) {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (cmdline.includes("workerd") && cmdline.includes("--inspector-addr")) return pid;
  }
  throw new Error("no workerd runtime process found");
}

/** User + system CPU of the process so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
