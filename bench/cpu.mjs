#!/usr/bin/env node
// CPU per request: milliseconds of CPU each process of `wrangler dev` spends per request, per case,
// from /proc (Linux only), including what a command causes after its answer (the publish, the
// projection, the outbox alarm 5 s later). Locally one workerd thread runs the Worker, every
// object, the consumer and D1, so its CPU per request bounds the rate (1000 / ms = req/s at best),
// and, unlike req/s, it barely moves with what else the machine runs. Cases as in bench:commands
// and bench:queries, against the floors of bench/floor/entry.ts measured in the same run: a bare
// append (`floor_write`), the append with its queue message (`floor_projected`), the append with an
// outbox row, its alarm and the message (`floor_outbox`, the floor of this architecture's write),
// one D1 query by id (`floor_read`), and the same in a D1 session (`floor_read_session`: what the
// contract's bookmark costs locally, an fsync per query in the local D1).
// Usage: npm run bench:cpu [-- --users 200 --requests 1000 --rounds 3 --settle 8 --cases floor_write,self_many]
// Read cases: get, list (page 1), list_deep (pages 2-20), each against floor_read (the target) and
// against floor_read_session.
// --cases: only these cases, comma-separated (an A/B of the write path need not pay for the reads);
// a case's floor is added when missing, so its ratio is still measured in the same run.
// --settle: seconds measured after each write case's load (the alarm that confirms a command's
// outbox runs 5 s after it). Each process's idle CPU (timers, the file watcher), measured for
// 4 s right before each case, is subtracted over the case's time. "same round, median": the floor's
// runtime ms over the case's within each round, the median of those (steadier under load).
import { readFileSync } from "node:fs";
import * as L from "./lib.mjs";

const opt = L.args({ users: 200, requests: 1000, rounds: 3, settle: 7, cases: "" });

await L.run("cpu", 900_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users);
  const tokens = await L.loginAll(server, users);
  await Promise.all(users.map((u) => L.expectOk(server.url, "POST", `/bench/append/${u.id}`)));
  const user = (i) => users[i % users.length];
  // The list's pages after the first: the users and the admin, 10 a page.
  const deepPages = Math.max(1, Math.ceil((users.length + 1) / 10) - 1);
  const allCases = {
    ht: () => ({ path: "/ht/" }),
    floor_write: (i) => ({ method: "POST", path: `/bench/append/${user(i).id}` }),
    floor_projected: (i) => ({ method: "POST", path: `/bench/projected/${user(i).id}` }),
    floor_outbox: (i) => ({ method: "POST", path: `/bench/outbox/${user(i).id}` }),
    many_users: L.renames(users, admin.token),
    self_many: L.renames(users, tokens),
    floor_read: (i) => ({ path: `/bench/read/${user(i).id}` }),
    floor_read_session: (i) => ({ path: `/bench/read-session/${user(i).id}` }),
    get: (i) => ({ path: `/v1/users/${user(i).id}/`, token: admin.token }),
    // Page 1: no walk to the page's start.
    list: () => ({ path: "/v1/users/?page_size=10", token: admin.token }),
    // Pages 2 to the last (20 with the default 200 users), as bench:queries walks them: each walks
    // user_blocks to its start. Not past the end (with 10 users or more), where a page is empty and cheap.
    list_deep: (i) => ({ path: `/v1/users/?page=${2 + (i % deepPages)}&page_size=10`, token: admin.token }),
  };
  const floorOf = {
    many_users: "floor_write",
    self_many: "floor_write",
    get: "floor_read",
    list: "floor_read",
    list_deep: "floor_read",
  };
  const sessionFloorOf = { get: "floor_read_session", list: "floor_read_session", list_deep: "floor_read_session" };
  const cases = selectCases(allCases, floorOf, opt.cases, sessionFloorOf);
  await L.waitDrained(server, admin.token);
  const processes = serverProcesses(server);
  const writes = new Set(["floor_write", "floor_projected", "floor_outbox", "many_users", "self_many"]);
  const idleSeen = [];
  const runs = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 1; round <= opt.rounds; round++) {
    for (const [name, make] of Object.entries(cases)) {
      const idle = await idleRates(processes, 4000);
      idleSeen.push(idle);
      const before = cpuMs(processes);
      const t0 = Date.now();
      const load = await L.load(server, { concurrency: 32, durationMs: 600_000, maxRequests: opt.requests, make });
      if (writes.has(name)) await L.sleep(opt.settle * 1000);
      const after = cpuMs(processes);
      const elapsed = Date.now() - t0;
      const per = {};
      for (const p of processes) per[p.role] = (after[p.pid] - before[p.pid] - idle[p.pid] * elapsed) / load.n;
      runs[name].push({ per, rps: load.rps, failed: load.n < opt.requests });
      console.error(
        `  round ${round}/${opt.rounds} ${name}: ${Object.entries(per)
          .map(([role, ms]) => `${role} ${L.round(ms, 2)}`)
          .join(", ")} ms/request`,
      );
    }
    // The next round starts with the read side caught up.
    await L.waitDrained(server, admin.token);
  }
  const results = {};
  for (const [name, list] of Object.entries(runs)) {
    const median = (role) => L.round(L.median(list.map((run) => run.per[role])), 2);
    results[name] = Object.fromEntries(processes.map((p) => [p.role, median(p.role)]));
    results[name].total = L.round(
      processes.reduce((sum, p) => sum + results[name][p.role], 0),
      2,
    );
    results[name].failed_rounds = list.filter((run) => run.failed).length;
  }
  // The floor's runtime ms over the case's, round by round (both measured minutes apart at most),
  // then the median: steadier on a loaded machine than the ratio of the two medians.
  const byRound = (name, floor) => runs[name].map((run, i) => runs[floor][i].per.runtime / run.per.runtime);
  for (const [name, floor] of Object.entries(floorOf)) {
    if (!runs[name] || !runs[floor]) continue;
    const ratios = byRound(name, floor);
    results[name].floor_ratio_by_round = L.round(L.median(ratios), 3);
    results[name].floor_ratios = ratios.map((x) => L.round(x, 3));
  }
  for (const [name, floor] of Object.entries(sessionFloorOf)) {
    if (runs[name] && runs[floor])
      results[name].session_floor_ratio_by_round = L.round(L.median(byRound(name, floor)), 3);
  }
  const rows = Object.entries(results).map(([name, r]) => {
    const floor = floorOf[name];
    return {
      case: name,
      "runtime ms": r.runtime,
      "proxy ms": r.proxy,
      "wrangler ms": r.wrangler,
      "total ms": r.total,
      "runtime req/s at most": L.round(1000 / r.runtime, 0),
      "floor ÷ case (runtime)": floor ? L.round(results[floor].runtime / r.runtime, 3) : "–",
      "same round, median": r.floor_ratio_by_round ?? "–",
      "session floor ÷ case, same round": r.session_floor_ratio_by_round ?? "–",
      "floor_outbox ÷ case":
        floor === "floor_write" && results.floor_outbox ? L.round(results.floor_outbox.runtime / r.runtime, 3) : "–",
    };
  });
  const idleMsPerS = Object.fromEntries(
    processes.map((p) => [p.role, L.round(L.median(idleSeen.map((idle) => idle[p.pid])) * 1000, 1)]),
  );
  L.report("cpu", { options: opt, idle_ms_per_s: idleMsPerS, results }, rows);
});

/** The cases named in `--cases` (all when empty), each with its floors, in the order of `all`. */
function selectCases(all, floorOf, names, sessionFloorOf) {
  if (!names) return all;
  const wanted = new Set(names.split(","));
  for (const name of wanted) {
    if (!(name in all)) throw new Error(`unknown case ${name}; cases: ${Object.keys(all).join(", ")}`);
    if (floorOf[name]) wanted.add(floorOf[name]);
    if (sessionFloorOf[name]) wanted.add(sessionFloorOf[name]);
  }
  return Object.fromEntries(Object.entries(all).filter(([name]) => wanted.has(name)));
}

/**
 * The server's processes by role: `runtime` is the workerd that runs the service (the one with an
 * inspector), `proxy` the workerd wrangler puts in front of it, `wrangler` the node process.
 */
function serverProcesses(server) {
  const out = [];
  for (const pid of L.groupPids(server.child.pid)) {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (cmdline.includes("wrangler-dist/cli.js")) out.push({ pid, role: "wrangler" });
    else if (cmdline.includes("workerd") && cmdline.includes("--inspector-addr")) out.push({ pid, role: "runtime" });
    else if (cmdline.includes("workerd")) out.push({ pid, role: "proxy" });
  }
  if (!out.some((p) => p.role === "runtime")) throw new Error("no workerd runtime process found");
  return out;
}

/** User + system CPU of each process so far, in ms (clock ticks of 10 ms). */
function cpuMs(processes) {
  const out = {};
  for (const { pid } of processes) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out[pid] = (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return out;
}

/** CPU ms per wall ms of each process with no load: timers, the inspector, the file watcher. */
async function idleRates(processes, ms) {
  const before = cpuMs(processes);
  await L.sleep(ms);
  const after = cpuMs(processes);
  return Object.fromEntries(Object.entries(before).map(([pid, v]) => [pid, (after[pid] - v) / ms]));
}
