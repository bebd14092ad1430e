#!/usr/bin/env node
// Long streams: command latency (PUT /v1/users/{id}/) on users with 1, 10,000 and 100,000 events,
// with the object warm and freshly restarted (cold), without and with snapshots; and the RSS of
// the workerd processes before and after the 100,000-event object is loaded.
//
// One set of streams serves both modes: they are built with SNAPSHOT_EVERY=0 (no snapshot is ever
// written), measured cold and warm, then the server runs with SNAPSHOT_EVERY=100 and each stream
// gets 100 more commands, which writes a snapshot; measured cold and warm again.
// "Cold" = `wrangler dev` restarted on the same --persist-to dir; the isolate and the admin's
// object are woken first (GET /ht/, one authenticated GET), then the first command on each user is
// timed, the largest stream first. "Warm" = the next `--warm` commands, one at a time.
// Usage: npm run bench:long-streams [-- --quick]   (--quick: 10,000 only)
import * as L from "./lib.mjs";

const opt = L.args({ quick: false, sizes: "", restarts: 3, warm: 30, concurrency: 32, buildMinutes: 20 });
const sizes = opt.sizes ? opt.sizes.split(",").map(Number) : opt.quick ? [1, 10_000] : [1, 10_000, 100_000];
const SNAPSHOT_EVERY = 100;

await L.run("long-streams", (opt.buildMinutes + 10) * 60_000, async () => {
  let server = await L.startServer({ vars: { SNAPSHOT_EVERY: "0" } });
  console.error(`wrangler dev up on ${server.url} in ${Math.round(server.startMs)} ms, state in ${server.dir}`);
  let admin = await L.setupAdmin(server);
  const created = await L.createUsers(server, admin.token, sizes.length, { prefix: "long" });
  const streams = sizes.map((size, i) => ({ size, ...created[i] }));

  // Build the streams: concurrent updates to one user at a time (its object serialises them).
  const buildDeadline = Date.now() + opt.buildMinutes * 60_000;
  for (const s of streams) {
    const t0 = L.now();
    let done = s.revision;
    let lastPrint = 0;
    while (done < s.size) {
      if (Date.now() > buildDeadline) throw new Error(`building streams took longer than ${opt.buildMinutes} min`);
      const r = await L.load(server, {
        concurrency: opt.concurrency,
        durationMs: 60_000,
        maxRequests: Math.min(5000, s.size - done),
        make: (i) => ({
          method: "PUT",
          path: `/v1/users/${s.id}/`,
          token: admin.token,
          body: { first_name: `F${done + i}` },
        }),
      });
      done += r.n;
      if (r.n === 0) throw new Error(`no progress building ${s.size}: ${JSON.stringify(r.statuses)}`);
      if (L.now() - lastPrint > 5000 || done >= s.size) {
        lastPrint = L.now();
        console.error(`  stream ${s.size}: ${done} events, ${Math.round(done / ((L.now() - t0) / 1000))}/s`);
      }
    }
    s.revision = done;
    s.buildSeconds = L.round((L.now() - t0) / 1000, 1);
  }
  // Wait until the projection has caught up, so background work does not disturb the timings.
  await L.waitProjected(server, admin.token, streams, { timeoutMs: 300_000 });

  let serial = 0;
  const command = (s) =>
    L.expectOk(server.url, "PUT", `/v1/users/${s.id}/`, {
      token: admin.token,
      body: { last_name: `L${serial++}` },
    }).then((r) => r.ms);

  async function measure(mode) {
    const cold = Object.fromEntries(streams.map((s) => [s.size, []]));
    const rss = [];
    for (let r = 0; r < opt.restarts; r++) {
      server = await L.restartServer(server);
      admin = { ...admin, ...(await admin.login(server)) };
      await L.expectOk(server.url, "GET", "/ht/");
      await L.expectOk(server.url, "GET", `/v1/users/${admin.id}/`, { token: admin.token });
      const before = L.workerdRssMb(server).rss_mb;
      for (const s of [...streams].reverse()) cold[s.size].push(await command(s));
      await L.sleep(500);
      rss.push({ before_mb: before, after_mb: L.workerdRssMb(server).rss_mb });
    }
    const warm = {};
    for (const s of streams) {
      const times = [];
      for (let i = 0; i < opt.warm; i++) times.push(await command(s));
      warm[s.size] = L.summarize(times);
    }
    const out = {};
    for (const s of streams) {
      out[s.size] = {
        cold_ms: L.median(cold[s.size]),
        cold_runs_ms: cold[s.size].map((x) => L.round(x)),
        warm: warm[s.size],
      };
    }
    const memory = {
      before_mb: L.median(rss.map((x) => x.before_mb)),
      after_mb: L.median(rss.map((x) => x.after_mb)),
      runs: rss,
    };
    memory.delta_mb = L.round(memory.after_mb - memory.before_mb, 1);
    console.error(`${mode}: ${JSON.stringify(out)} memory ${JSON.stringify(memory)}`);
    return { latency: out, memory };
  }

  const withoutSnapshots = await measure("without snapshots");
  // Switch snapshots on; 100 commands on each stream cross a multiple of 100 and write one.
  server.vars = { ...server.vars, SNAPSHOT_EVERY: String(SNAPSHOT_EVERY) };
  server = await L.restartServer(server);
  admin = { ...admin, ...(await admin.login(server)) };
  for (const s of streams) {
    await L.load(server, {
      concurrency: 8,
      durationMs: 60_000,
      maxRequests: SNAPSHOT_EVERY,
      make: (i) => ({ method: "PUT", path: `/v1/users/${s.id}/`, token: admin.token, body: { first_name: `S${i}` } }),
    });
  }
  const withSnapshots = await measure("with snapshots");

  const one = (m) => m.latency[1];
  const checks = [];
  const row = (mode, m) => {
    for (const s of streams) {
      const l = m.latency[s.size];
      const ratio = s.size === 1 ? null : L.round(l.warm.p50_ms / one(m).warm.p50_ms, 2);
      checks.push({ mode, size: s.size, warmRatio: ratio, cold: l.cold_ms });
    }
  };
  row("no snapshots", withoutSnapshots);
  row("snapshots", withSnapshots);
  const coldTarget = (size) => (size === 10_000 ? 50 : size === 100_000 ? 250 : null);
  const rows = checks.map((c) => {
    const m = c.mode === "snapshots" ? withSnapshots : withoutSnapshots;
    const l = m.latency[c.size];
    const ct = coldTarget(c.size);
    const warmOk = c.size === 10_000 ? c.warmRatio <= 2 : null;
    const coldOk = ct === null ? null : c.cold <= ct;
    return {
      snapshots: c.mode,
      events: c.size,
      "cold ms (median)": L.round(c.cold, 1),
      "warm p50 ms": l.warm.p50_ms,
      "warm p99 ms": l.warm.p99_ms,
      "warm × 1-event": c.warmRatio ?? "1",
      target: [c.size === 10_000 ? "warm ≤ 2×" : null, ct ? `cold ≤ ${ct} ms` : null].filter(Boolean).join(", ") || "–",
      verdict: [warmOk, coldOk]
        .filter((x) => x !== null)
        .map(L.verdict)
        .join(", "),
    };
  });
  const largest = Math.max(...sizes);
  for (const [mode, m] of [
    ["no snapshots", withoutSnapshots],
    ["snapshots", withSnapshots],
  ]) {
    rows.push({
      snapshots: mode,
      events: `RSS workerd before/after ${largest}`,
      "cold ms (median)": `${m.memory.before_mb} → ${m.memory.after_mb} MB`,
      "warm p50 ms": "",
      "warm p99 ms": "",
      "warm × 1-event": "",
      target: "–",
      verdict: `Δ ${m.memory.delta_mb} MB`,
    });
  }
  L.report(
    opt.quick ? "long-streams-quick" : "long-streams",
    {
      options: { ...opt, sizes },
      build: streams.map((s) => ({ events: s.size, seconds: s.buildSeconds })),
      without_snapshots: withoutSnapshots,
      with_snapshots: withSnapshots,
      checks: rows,
    },
    rows,
  );
});
