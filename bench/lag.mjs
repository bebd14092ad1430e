#!/usr/bin/env node
// Projection lag at a steady command rate of about half the measured maximum, two ways: as the
// consumer logs it (each `projected` line's lag_ms: the event's commit to its batch committed in D1),
// and as a client sees it (read-your-write: the response time of GET /v1/users/{id}/?min_revision=
// <its revision> sent the moment a sampled command answered; the server polls D1 every 10 ms, up to
// 2 s → 503; it adds a GET's own latency under the load). Then the catch-up time after a burst.
// Usage: npm run bench:lag [-- --users 200 --seconds 20 --burst-seconds 5 --sample-every 4 --profile 1]
// (--profile 1: a CPU profile of the isolate over the steady phase, its top functions printed.
// --trace 1: the server runs with BENCH_TRACE=1 and the report adds where each user batch's lag went,
// hop by hop, for all of them and for the slowest 5 %: commit → publish started → announced in the
// ledger → sendBatch resolved → consumer batch received → checkpoints loaded → planned → committed in
// D1 and acked; and each consumer batch's size and span, and how long it waited behind the one before.)
import * as L from "./lib.mjs";

const opt = L.args({
  users: 200,
  concurrency: 32,
  maxSeconds: 5,
  seconds: 20,
  burstSeconds: 5,
  sampleEvery: 4,
  rate: 0,
  batchTimeout: -1,
  profile: 0,
  trace: 0,
});

await L.run("lag", 180_000, async () => {
  // --batch-timeout N: an experiment with the consumer's max_batch_timeout set to N s (see BENCHMARKS.md).
  // The consumer's own measure of every projected batch, per user: `lag_ms` of each stream of its
  // `projected` log line, from the commit (the event's timestamp) to the batch committed in D1 and acked.
  const projectedLags = [];
  let collecting = false;
  const traces = [];
  // --trace 1: the server's lines during the steady phase, by kind: under `wrangler dev` each of the
  // Worker's lines is also a request to wrangler's Node process, which the local queue's broker
  // waits on between two batches (its own per-batch log line).
  const linesByKind = {};
  const onLine = (line) => {
    if (collecting && opt.trace) {
      const kind = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.split(" ").slice(0, 2).join(" ").slice(0, 40);
      linesByKind[kind] = (linesByKind[kind] ?? 0) + 1;
    }
    if (!collecting || !line.includes('"msg":"projected"')) return;
    const projectedLine = JSON.parse(line.slice(line.indexOf("{")));
    if (projectedLine.trace) traces.push(projectedLine.trace);
    for (const stream of projectedLine.streams ?? []) {
      if (typeof stream.lag_ms === "number") projectedLags.push(stream.lag_ms);
    }
  };
  const { server, admin, users } = await L.startWithUsers(opt.users, {
    ...(opt.batchTimeout >= 0 ? { batchTimeout: opt.batchTimeout } : {}),
    logLevel: "log",
    onLine,
    ...(opt.trace ? { vars: { BENCH_TRACE: "1" } } : {}),
  });
  const latest = new Map(users.map((u) => [u.id, u.revision]));
  const put = L.renames(users, admin.token);
  const track = (r, spec) => latest.set(spec.userId, Math.max(latest.get(spec.userId), r.body.revision));
  const pending = () => users.map((u) => ({ id: u.id, revision: latest.get(u.id) }));

  // 1. The maximum command rate (closed loop), then let the projection drain.
  const max = await L.load(server, {
    concurrency: opt.concurrency,
    durationMs: opt.maxSeconds * 1000,
    make: put,
    check: track,
  });
  await L.waitProjected(server, admin.token, pending());
  const rate = opt.rate > 0 ? opt.rate : Math.max(1, Math.round(max.rps / 2));
  console.error(`max ${max.rps} commands/s (p50 ${max.p50_ms} ms); steady rate ${rate}/s for ${opt.seconds} s`);

  // 2. Open loop at `rate`: a command every 1/rate s, whatever the answers; every Nth is followed.
  const lags = [];
  const commandLatencies = [];
  let late503 = 0;
  let failed = 0;
  const inFlight = new Set();
  const t0 = L.now();
  collecting = true;
  const total = Math.round(rate * opt.seconds);
  const steady = async () => {
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - L.now();
      if (wait > 1) await L.sleep(wait);
      const spec = put(i);
      const job = (async () => {
        const r = await L.request(server.url, spec.method, spec.path, spec).catch(() => null);
        if (!r || r.status !== 200) return void (failed += 1);
        commandLatencies.push(r.ms);
        track(r, spec);
        if (i % opt.sampleEvery !== 0) return;
        const g = await L.request(server.url, "GET", `/v1/users/${spec.userId}/?min_revision=${r.body.revision}`, {
          token: admin.token,
        }).catch(() => null);
        if (!g) return void (failed += 1);
        if (g.status === 503) late503 += 1;
        else if (g.status === 200) lags.push(g.ms);
        else failed += 1;
      })();
      inFlight.add(job);
      job.finally(() => inFlight.delete(job));
    }
    await Promise.all(inFlight);
  };
  // --profile 1: the isolate's CPU profile over the steady phase, top functions by self time.
  if (opt.profile) {
    const { profiles } = await L.cpuProfile(server, steady, { top: 20 });
    for (const p of profiles)
      console.error(`profile of ${p.target}:\n${p.top.map((f) => `  ${f.self_pct}%  ${f.fn}`).join("\n")}`);
  } else await steady();
  const achieved = total / ((L.now() - t0) / 1000);
  const lag = L.summarize(lags, { samples: lags.length, over_2s_503: late503 });
  const steadyCommands = L.summarize(commandLatencies);
  console.error(
    `steady: ${L.round(achieved, 1)} commands/s, lag p50 ${lag.p50_ms} ms p99 ${lag.p99_ms} ms, ${late503} × 503`,
  );
  await L.waitProjected(server, admin.token, pending());
  collecting = false;
  const projected = L.summarize(projectedLags, { samples: projectedLags.length });
  console.error(`steady: projection lag (consumer) p50 ${projected.p50_ms} ms p99 ${projected.p99_ms} ms`);
  const timeline = opt.trace ? { ...hopsOf(traces), server_lines: linesByKind } : undefined;
  if (timeline) console.error(JSON.stringify(timeline, null, 1));

  // 3. Burst at full speed, then time until every user's row shows its last revision.
  const burst = await L.load(server, {
    concurrency: opt.concurrency,
    durationMs: opt.burstSeconds * 1000,
    make: put,
    check: track,
  });
  const burstEnd = L.now();
  const catchUp = await L.waitProjected(server, admin.token, pending(), { timeoutMs: 90_000 });
  console.error(
    `burst: ${burst.n} commands at ${burst.rps}/s; read model caught up ${Math.round(catchUp)} ms after it ended`,
  );

  const target = 100;
  const pass = projected.p99_ms !== null && projected.p99_ms <= target;
  const readYourWritePass = lag.p99_ms !== null && lag.p99_ms <= target && late503 === 0;
  L.report(
    opt.batchTimeout >= 0 ? `lag-batch-timeout-${opt.batchTimeout}` : "lag",
    {
      options: opt,
      max_command_rps: max.rps,
      ...(timeline && { timeline }),
      steady: {
        target_rate: rate,
        achieved_rate: L.round(achieved, 1),
        commands: steadyCommands,
        projection_lag: projected,
        lag,
        failed,
      },
      burst: {
        commands: burst.n,
        rps: burst.rps,
        catch_up_ms: L.round(catchUp),
        catch_up_events_per_s: L.round(burst.n / (catchUp / 1000 + opt.burstSeconds), 1),
        measured_from: L.round(burstEnd),
      },
      targets: { lag_p99_max_ms: target, pass, read_your_write_pass: readYourWritePass },
    },
    [
      { measure: "max command rate (closed loop)", value: `${max.rps}/s`, target: "–", verdict: "" },
      { measure: "steady rate (open loop)", value: `${L.round(achieved, 1)}/s`, target: `≈ ${rate}/s`, verdict: "" },
      {
        measure: "projection lag p50 / p99 (commit → in D1, the consumer's log)",
        value: `${projected.p50_ms} / ${projected.p99_ms} ms (${projectedLags.length} user batches)`,
        target: `p99 ≤ ${target} ms`,
        verdict: L.verdict(pass),
      },
      {
        measure: "read-your-write p50 / p99 (response → GET ?min_revision answers)",
        value: `${lag.p50_ms} / ${lag.p99_ms} ms`,
        target: `p99 ≤ ${target} ms`,
        verdict: L.verdict(readYourWritePass),
      },
      {
        measure: "read-your-write samples / > 2 s (503)",
        value: `${lags.length} / ${late503}`,
        target: "–",
        verdict: "",
      },
      {
        measure: `burst (${opt.burstSeconds} s) commands`,
        value: `${burst.n} at ${burst.rps}/s`,
        target: "–",
        verdict: "",
      },
      { measure: "catch-up after burst", value: `${Math.round(catchUp)} ms`, target: "–", verdict: "" },
    ],
  );
});

/**
 * --trace 1: each user batch's lag (commit → committed in D1) cut into its hops, p50 / p99 of each
 * over every user batch and over the slowest 5 %; the consumer batches' sizes, spans (received →
 * handler ended), the part of the span after the D1 commit, and how long each waited behind the one
 * before (its oldest message's send resolved → received, against the previous batch's span).
 */
function hopsOf(traces) {
  const rows = [];
  for (const { batch, streams } of traces) {
    for (const s of streams ?? []) {
      if (s.publish === undefined) continue; // another isolate's publish, or one from before the run
      rows.push({
        total: batch.committed - s.commit,
        "commit → publish": s.publish - s.commit,
        "publish → announced": s.announced - s.publish,
        "announced → sent": s.sent - s.announced,
        "sent → received": batch.received - s.sent,
        "received → loaded": batch.loaded - batch.received,
        "loaded → planned": batch.planned - batch.loaded,
        "planned → committed": batch.committed - batch.planned,
        "batch messages": batch.messages,
      });
    }
  }
  const slowest = [...rows].sort((a, b) => b.total - a.total).slice(0, Math.max(1, Math.ceil(rows.length / 20)));
  const table = (set) =>
    Object.fromEntries(
      Object.keys(rows[0] ?? {}).map((hop) => {
        const s = L.summarize(set.map((r) => r[hop]).filter((v) => Number.isFinite(v)));
        return [hop, `${s.p50_ms} / ${s.p99_ms}`];
      }),
    );
  // A batch's handler ended when the next traced batch says the one before it ended.
  const batches = traces.map((t, i) => {
    const next = traces[i + 1]?.batch.previous_ended;
    return { ...t.batch, ended: next >= t.batch.received ? next : null };
  });
  const oldestSent = (t) => Math.min(...(t.streams ?? []).map((s) => s.sent).filter(Number.isFinite));
  const work = {};
  for (const t of traces)
    for (const [kind, w] of Object.entries(t.work ?? {})) {
      work[kind] ??= { n: 0, ms: 0 };
      work[kind].n += w.n;
      work[kind].ms += w.ms;
    }
  const p = (values) => {
    const s = L.summarize(values.filter((v) => v !== null && Number.isFinite(v)));
    return `${s.p50_ms} / ${s.p99_ms} (max ${s.max_ms})`;
  };
  return {
    user_batches: rows.length,
    "all: p50 / p99 ms": table(rows),
    "slowest 5 %: p50 / p99 ms": table(slowest),
    consumer_batches: {
      n: batches.length,
      "messages p50 / p99": p(batches.map((b) => b.messages)),
      "span ms (received → handler ended)": p(batches.map((b) => b.ended && b.ended - b.received)),
      "after the commit ms (committed → handler ended)": p(batches.map((b) => b.ended && b.ended - b.committed)),
      "waited behind the previous batch ms (its end → received)": p(
        batches.map((b) => (b.previous_ended ? b.received - b.previous_ended : null)),
      ),
      "oldest message sent → received ms": p(traces.map((t) => t.batch.received - oldestSent(t))),
    },
    objects_alarms: work,
  };
}
