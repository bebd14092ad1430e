#!/usr/bin/env node
// Waiters: what reads waiting on `?min_revision=` for a revision that never comes cost everyone
// else (issue 25). One user's row is moved a revision back in D1 (`POST /bench/rewind/{id}`, a
// route of bench/floor/entry.ts), so `GET /v1/users/{id}/?min_revision=<its revision>` waits until
// READ_YOUR_WRITES_WAIT_MS and answers 503. `--waiters` clients each send that read again and
// again (after a 503 they wait its Retry-After, as a client should). In rounds, with and without
// the waiters, the same plain read of other users (`GET /v1/users/{id}/`, closed loop) is measured:
// its p50/p99 with waiters over its p50/p99 without, in the same run. The Worker's D1 binding
// counts its round trips (`BENCH_COUNT_D1`), so the waiters' D1 cost is counted, not guessed: the
// round trips of the phase with waiters, less the plain reads' own (per read, from the phase
// without). workerd's CPU per second of each phase is reported beside them (from /proc).
// Each round reports the waiters' requests a second and the Retry-After their 503s carried.
// Usage: npm run bench:waiters [-- --waiters 300 --users 50 --concurrency 8 --seconds 5 --rounds 3 --wait-ms 2000]
import http from "node:http";
import * as L from "./lib.mjs";

const opt = L.args({ waiters: 300, users: 50, concurrency: 8, seconds: 5, rounds: 3, waitMs: 2000 });

/** The waiters' own keep-alive agent (more sockets than the load generator's 256), one per round. */
const newAgent = () => new http.Agent({ keepAlive: true, maxSockets: opt.waiters + 16 });

function waitingRead(agent, server, path, token, timeoutMs) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, server.url);
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        agent,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, retryAfter: Number(res.headers["retry-after"] ?? 0) }));
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** p50 and max of the Retry-After values told (seconds). */
function retryAfterSummary(told) {
  const sorted = [...told].sort((a, b) => a - b);
  return { n: sorted.length, p50: sorted[Math.floor(sorted.length / 2)] ?? null, max: sorted.at(-1) ?? null };
}

async function roundTrips(server) {
  return (await L.expectOk(server.url, "GET", "/bench/d1-count")).body.round_trips;
}

await L.run("waiters", 15 * 60_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users + 1, {
    vars: { READ_YOUR_WRITES_WAIT_MS: String(opt.waitMs), BENCH_COUNT_D1: "1" },
  });
  const [target, ...others] = users;
  const rewound = await L.expectOk(server.url, "POST", `/bench/rewind/${target.id}`);
  if (rewound.body?.revision !== target.revision - 1) throw new Error(`rewind failed: ${rewound.text}`);
  const waitPath = `/v1/users/${target.id}/?min_revision=${target.revision}`;
  const plain = {
    concurrency: opt.concurrency,
    durationMs: opt.seconds * 1000,
    make: (i) => ({ path: `/v1/users/${others[(i * 7919) % others.length].id}/`, token: admin.token }),
  };

  /** Runs `opt.waiters` waiting clients until `stop()` (which hangs up on them); counts their answers. */
  function startWaiters() {
    const agent = newAgent();
    let running = true;
    const statuses = {};
    let errors = 0;
    let sent = 0;
    /** The Retry-After of each 503 (seconds), to report what the crowd was told. */
    const told = [];
    /** When the last come-back told falls: the server counts it until then (decision 0020). */
    let toldUntil = 0;
    let hangUp;
    const stopped = new Promise((resolve) => (hangUp = resolve));
    const client = async () => {
      while (running) {
        sent += 1;
        try {
          const r = await waitingRead(agent, server, waitPath, admin.token, opt.waitMs + 30_000);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status === 503) {
            told.push(r.retryAfter);
            toldUntil = Math.max(toldUntil, Date.now() + r.retryAfter * 1000);
          }
          if (r.status === 503 && running) await Promise.race([L.sleep(Math.max(1, r.retryAfter) * 1000), stopped]);
        } catch {
          if (!running) break;
          errors += 1;
          await L.sleep(1000);
        }
      }
    };
    const clients = Array.from({ length: opt.waiters }, client);
    return {
      counts: () => ({ sent, statuses: { ...statuses }, errors, told: [...told] }),
      stop: async () => {
        running = false;
        hangUp();
        agent.destroy(); // hang up on the waiting requests
        await Promise.all(clients);
        // The server still counts the come-backs it told (up to 30 s ahead): the next round's crowd
        // would find those seconds taken by clients that will not come. Let them pass first.
        await L.sleep(Math.max(0, toldUntil + 1000 - Date.now()));
        // The server does not notice them leave (workerd aborts `request.signal` on a hang-up only
        // with the `enable_request_signal` flag): let their waits run out before the next phase.
        await L.sleep(opt.waitMs + 1000);
      },
    };
  }

  const rounds = [];
  for (let round = 1; round <= opt.rounds; round++) {
    const before = await roundTrips(server);
    const { value: alone, cpu: aloneCpu } = await L.workerdCpuOf(server, () => L.load(server, plain));
    const aloneTrips = (await roundTrips(server)) - before;

    const waiters = startWaiters();
    await L.sleep(Math.min(opt.waitMs, 3000)); // every waiter in, the first timeouts come back
    const atStart = waiters.counts();
    const tripsAtStart = await roundTrips(server);
    const { value: crowded, cpu: crowdedCpu } = await L.workerdCpuOf(server, () => L.load(server, plain));
    const crowdedTrips = (await roundTrips(server)) - tripsAtStart;
    const atEnd = waiters.counts();
    await waiters.stop();

    const perRead = aloneTrips / Math.max(1, alone.n);
    const waiterTrips = crowdedTrips - perRead * crowded.n;
    const r = {
      round,
      alone: { rps: alone.rps, p50_ms: alone.p50_ms, p99_ms: alone.p99_ms, d1_per_read: L.round(perRead, 3) },
      with_waiters: { rps: crowded.rps, p50_ms: crowded.p50_ms, p99_ms: crowded.p99_ms },
      p50_ratio: L.round(crowded.p50_ms / alone.p50_ms, 3),
      p99_ratio: L.round(crowded.p99_ms / alone.p99_ms, 3),
      waiter_d1_per_s: L.round(waiterTrips / crowded.seconds, 1),
      waiter_requests_per_s: L.round((atEnd.sent - atStart.sent) / crowded.seconds, 1),
      // workerd's CPU (user + system, all its processes) per second of each phase: what the
      // waiters' arrivals cost the platform beyond D1.
      workerd_cpu_ms_per_s: {
        alone: L.round((aloneCpu.user_ms + aloneCpu.system_ms) / alone.seconds, 0),
        with_waiters: L.round((crowdedCpu.user_ms + crowdedCpu.system_ms) / crowded.seconds, 0),
      },
      // What the 503s said, over the round so far: p50 and max of Retry-After, in seconds.
      retry_after_s: retryAfterSummary(atEnd.told),
      waiter_statuses: atEnd.statuses,
      waiter_errors: atEnd.errors,
    };
    rounds.push(r);
    console.error(
      `  round ${round}/${opt.rounds}: plain read p99 ${alone.p99_ms} → ${crowded.p99_ms} ms (×${r.p99_ratio}), ` +
        `p50 ${alone.p50_ms} → ${crowded.p50_ms} ms; waiters: ${r.waiter_d1_per_s} D1 round trips/s, ` +
        `${r.waiter_requests_per_s} requests/s, ${JSON.stringify(atEnd.statuses)}, Retry-After ` +
        `p50 ${r.retry_after_s.p50} max ${r.retry_after_s.max} s; workerd CPU ` +
        `${r.workerd_cpu_ms_per_s.alone} → ${r.workerd_cpu_ms_per_s.with_waiters} ms/s`,
    );
    await L.sleep(500);
  }

  const med = (f) => L.median(rounds.map(f));
  const summary = {
    alone_p50_ms: med((r) => r.alone.p50_ms),
    alone_p99_ms: med((r) => r.alone.p99_ms),
    with_waiters_p50_ms: med((r) => r.with_waiters.p50_ms),
    with_waiters_p99_ms: med((r) => r.with_waiters.p99_ms),
    p99_ratio: med((r) => r.p99_ratio),
    p50_ratio: med((r) => r.p50_ratio),
    waiter_d1_per_s: med((r) => r.waiter_d1_per_s),
    waiter_requests_per_s: med((r) => r.waiter_requests_per_s),
    workerd_cpu_alone_ms_per_s: med((r) => r.workerd_cpu_ms_per_s.alone),
    workerd_cpu_with_waiters_ms_per_s: med((r) => r.workerd_cpu_ms_per_s.with_waiters),
  };
  const targets = { p99_ratio_max: 1.5, waiter_d1_per_s_max: 10 };
  L.report("waiters", { options: opt, rounds, summary, targets }, [
    {
      case: `plain read, alone`,
      "p50 ms": summary.alone_p50_ms,
      "p99 ms": summary.alone_p99_ms,
      "× alone (p99)": 1,
      "waiters' D1/s": "–",
      target: "",
      verdict: "",
    },
    {
      case: `plain read, ${opt.waiters} waiters`,
      "p50 ms": summary.with_waiters_p50_ms,
      "p99 ms": summary.with_waiters_p99_ms,
      "× alone (p99)": summary.p99_ratio,
      "waiters' D1/s": summary.waiter_d1_per_s,
      target: `p99 ≤ ${targets.p99_ratio_max}×, D1 ≤ ${targets.waiter_d1_per_s_max}/s`,
      verdict: L.verdict(
        summary.p99_ratio <= targets.p99_ratio_max && summary.waiter_d1_per_s <= targets.waiter_d1_per_s_max,
      ),
    },
  ]);
});
