#!/usr/bin/env node
// Rebuild: events per second of a full projection rebuild (POST /admin/projections/rebuild, then
// poll GET until "done"), as the job reports it and as measured from here (wall clock).
// Usage: npm run bench:rebuild [-- --users 1000 --updates 4 --profile 1]   (events = users × (1 + updates))
// (--settle MS: the pause between the last write and the rebuild, 10 s; 0 races the outbox alarms;
//  --per-step N: REBUILD_USERS_PER_STEP for this run, and the floor's step too.)
// (--profile 1: a CPU profile of the isolate over the rebuild, its top functions printed;
//  --perf 1: `perf record` of workerd over the rebuild and over the floor's scan, the top native
//  symbols of each printed: the isolate's profile puts the platform's work (waking an object, its
//  SQLite, the RPC) on whatever JS frame is on the stack, mostly the caller's; --perf 2: with call
//  graphs, the data kept for `perf report -i`;
//  --again 1: a second rebuild right after the first, every user's object still awake;
//  --rounds N: N - 1 more idle rebuilds and floors on the same users, each after --idle MS (15 s:
//  local objects are evicted by then) with nothing running, and their medians: one seeding costs
//  ~2 min, a round ~20 s, and on a shared machine single runs of main's code ranged 0.46-0.65x.)
// And the floor, on the same server: as many objects holding as many rows each, written with the
// users (`POST /bench/fresh`) and so as idle, read back 50 at a time and written to D1 one row per
// event, one statement per step (`POST /bench/scan`, bench/floor/entry.ts): the rebuild's own
// parallelism and step, nothing else; then once more, awake, for the second rebuild.
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import * as L from "./lib.mjs";

const opt = L.args({
  users: 1000,
  updates: 4,
  concurrency: 24,
  profile: 0,
  perf: 0,
  again: 0,
  perStep: 0,
  settle: 10_000,
  rounds: 1,
  idle: 15_000,
});

/** Runs `during` under `perf record` of the server's workerd process; prints its top symbols. */
async function perfOf(server, label, during) {
  const pids = L.workerdPids(server);
  const file = `/tmp/bench-rebuild-perf-${process.pid}-${label}.data`;
  const perf = spawn(
    "perf",
    [
      "record",
      "-q",
      ...(opt.perf === 2 ? ["-g"] : []),
      "-F",
      "2000",
      "-e",
      "cpu-clock:u",
      "-p",
      pids.join(","),
      "-o",
      file,
    ],
    {
      stdio: "ignore",
    },
  );
  await L.sleep(300); // attached
  const value = await during();
  perf.kill("SIGINT");
  await new Promise((resolve) => perf.on("exit", resolve));
  const report = spawnSync(
    "perf",
    ["report", "-i", file, "--no-children", "--sort", "comm,sym", "--stdio", "-q", "--percent-limit", "0.7"],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  if (opt.perf === 2) console.error(`perf data kept in ${file}`);
  else rmSync(file, { force: true });
  const lines = report.stdout
    .split("\n")
    .filter((line) => line.trim())
    .slice(0, 30);
  console.error(`perf of workerd over ${label}:\n${lines.map((line) => `  ${line.trim().slice(0, 160)}`).join("\n")}`);
  return value;
}

await L.run("rebuild", 900_000, async () => {
  const server = await L.startServer({
    vars: opt.perStep ? { REBUILD_USERS_PER_STEP: String(opt.perStep) } : {},
  });
  console.error(`wrangler dev up on ${server.url} in ${Math.round(server.startMs)} ms`);
  const admin = await L.setupAdmin(server);
  let t = L.now();
  const users = await L.createUsers(server, admin.token, opt.users, {
    concurrency: opt.concurrency,
    timeoutMs: 400_000,
  });
  console.error(`${users.length} users created in ${Math.round(L.now() - t)} ms`);
  t = L.now();
  const updates = await L.load(server, {
    concurrency: opt.concurrency,
    durationMs: 300_000,
    maxRequests: users.length * opt.updates,
    make: L.renames(users, admin.token),
    check: (r, spec) => {
      const user = users.find((u) => u.id === spec.userId);
      user.revision = Math.max(user.revision, r.body.revision);
    },
  });
  console.error(`${updates.n} updates in ${Math.round(L.now() - t)} ms`);
  await L.waitProjected(server, admin.token, users, { timeoutMs: 90_000 });
  // Each written object's alarm confirms its outbox against D1 5 s after its last write (a D1 query
  // and a write each, src/write/outbox.ts): started at once, the rebuild raced hundreds of them and
  // measured them too. The rebuild starts once they are due and done (no route reports them).
  // + the admin's own stream: USER_CREATED and the login's USER_LOGGED_IN
  const expectedEvents = users.reduce((n, u) => n + u.revision, 0) + 2;
  // The floor's objects are written now, so that they are as idle as the users' when it is measured.
  const streams = users.length + 1;
  await L.expectOk(server.url, "POST", "/bench/fresh", {
    body: {
      prefix: "scan-",
      objects: streams,
      rows: Math.round(expectedEvents / streams),
      rowBytes: 400,
      inParallel: 50,
    },
  });
  if (opt.settle) await L.sleep(opt.settle);

  let t0 = L.now();
  let progress;
  const rebuild = async () => {
    await L.expectOk(server.url, "POST", "/admin/projections/rebuild?restart=true", { token: admin.token });
    for (;;) {
      const r = await L.expectOk(server.url, "GET", "/admin/projections/rebuild", { token: admin.token });
      progress = r.body;
      if (progress.status === "done") break;
      if (L.now() - t0 > 120_000) throw new Error(`rebuild not done after 120 s: ${r.text}`);
      await L.sleep(100);
    }
  };
  // workerd's CPU over the rebuild (not under a profiler, which costs its own).
  let rebuildCpu = null;
  if (opt.profile) {
    const { profiles } = await L.cpuProfile(server, rebuild, { top: 20 });
    for (const p of profiles)
      console.error(`profile of ${p.target}:\n${p.top.map((f) => `  ${f.self_pct}%  ${f.fn}`).join("\n")}`);
  } else if (opt.perf) await perfOf(server, "the rebuild", rebuild);
  else ({ cpu: rebuildCpu } = await L.workerdCpuOf(server, rebuild));
  const wallMs = L.now() - t0;
  const wallEps = progress.events / (wallMs / 1000);
  const first = progress;
  let again = null;
  if (opt.again) {
    t0 = L.now();
    await rebuild();
    again = progress.events_per_second;
    progress = first;
  }
  // The floor twice: its objects idle as long as the users' were (the first rebuild's floor), then
  // awake (the second's).
  const scan = async () => {
    const r = await L.expectOk(server.url, "POST", "/bench/scan", {
      body: { prefix: "scan-", objects: streams, inParallel: 50, perStep: opt.perStep || 200 },
    });
    console.error(`floor: ${r.body.events} rows of ${streams} objects read in ${r.body.ms} ms`);
    return Math.round(r.body.events / (r.body.ms / 1000));
  };
  let floorCpu = null;
  let floorEps;
  if (opt.perf) floorEps = await perfOf(server, "the floor", scan);
  else ({ value: floorEps, cpu: floorCpu } = await L.workerdCpuOf(server, scan));
  const awakeFloorEps = await scan();
  const rounds = [
    { events_per_second: first.events_per_second, floor: floorEps, cpu: rebuildCpu, floor_cpu: floorCpu },
  ];
  for (let round = 1; round < opt.rounds; round++) {
    await L.sleep(opt.idle);
    t0 = L.now();
    const { cpu } = await L.workerdCpuOf(server, rebuild);
    const { value: floor, cpu: floor_cpu } = await L.workerdCpuOf(server, scan);
    rounds.push({ events_per_second: progress.events_per_second, floor, cpu, floor_cpu });
  }
  progress = first;
  for (const r of rounds) r.to_floor = L.round((r.events_per_second ?? 0) / r.floor, 3);
  const median = {
    events_per_second: L.median(rounds.map((r) => r.events_per_second ?? 0)),
    floor: L.median(rounds.map((r) => r.floor)),
    to_floor: L.median(rounds.map((r) => r.to_floor)),
  };
  const target = 10_000;
  L.report(
    "rebuild",
    {
      options: opt,
      users: progress.users_total,
      events: progress.events,
      expected_events: expectedEvents,
      job_events_per_second: progress.events_per_second,
      wall_ms: L.round(wallMs),
      wall_events_per_second: L.round(wallEps, 0),
      last_error: progress.last_error,
      again_job_events_per_second: again,
      workerd_cpu_rebuild: rebuildCpu,
      floor_events_per_second: floorEps,
      workerd_cpu_floor: floorCpu,
      rounds: opt.rounds > 1 ? rounds : undefined,
      median_of_rounds: opt.rounds > 1 ? median : undefined,
      to_floor: L.round((progress.events_per_second ?? 0) / floorEps, 3),
      awake_floor_events_per_second: awakeFloorEps,
      again_to_awake_floor: again === null ? null : L.round(again / awakeFloorEps, 3),
      targets: { events_per_second_min: target, pass: (progress.events_per_second ?? 0) >= target },
    },
    [
      {
        measure: "users / events rebuilt",
        value: `${progress.users_total} / ${progress.events} (expected ${expectedEvents})`,
        target: "–",
        verdict: "",
      },
      {
        measure: "events/s (job's own clock)",
        value: progress.events_per_second,
        target: `≥ ${target}`,
        verdict: L.verdict((progress.events_per_second ?? 0) >= target),
      },
      { measure: "events/s (wall clock, incl. polling)", value: L.round(wallEps, 0), target: "–", verdict: "" },
      { measure: "wall time", value: `${Math.round(wallMs)} ms`, target: "–", verdict: "" },
      {
        measure: "floor: as many idle objects' rows read, one D1 row each (events/s)",
        value: `${floorEps} (rebuild at ${L.round((progress.events_per_second ?? 0) / floorEps, 2)}×)`,
        target: "–",
        verdict: "",
      },
      ...(opt.rounds > 1
        ? [
            {
              measure: `median of ${opt.rounds} idle rounds: events/s, floor, ratio`,
              value: `${median.events_per_second}, ${median.floor}, ${L.round(median.to_floor, 2)}×`,
              target: "–",
              verdict: "",
            },
          ]
        : []),
      ...(again === null
        ? []
        : [
            {
              measure: "events/s of a second rebuild right after (job's clock)",
              value: `${again} (awake floor ${awakeFloorEps}: ${L.round(again / awakeFloorEps, 2)}×)`,
              target: "–",
              verdict: "",
            },
          ]),
    ],
  );
});
