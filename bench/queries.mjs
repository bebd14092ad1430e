#!/usr/bin/env node
// Queries: throughput and p50/p95/p99 of GET /v1/users/{id}/ and GET /v1/users/ (list, page of 10)
// against the do-nothing baseline GET /ht/ of the same Worker, interleaved in rounds, and against the
// platform's floor for a read measured in the same rounds: one D1 query by id and nothing else
// (`GET /bench/read/{id}`, a route of the benchmarks' entry bench/floor/entry.ts only).
// Usage: npm run bench:queries [-- --users 200 --concurrency 32 --seconds 5 --rounds 3 --profile get]
// --profile get|list: afterwards, a CPU profile of the isolate under that case's load (top functions
// by self time on stderr and in the JSON; the raw .cpuprofile saved under bench/results/).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({ users: 200, concurrency: 32, seconds: 5, rounds: 3, maxRequests: 100_000, profile: "" });

await L.run("queries", opt.profile ? 300_000 : 180_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users);
  const pages = Math.max(1, Math.floor(opt.users / 10));
  const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000, maxRequests: opt.maxRequests };
  const candidates = {
    floor: { ...common, make: (i) => ({ path: `/bench/read/${users[(i * 7919) % users.length].id}` }) },
    get: {
      ...common,
      floor: "floor",
      make: (i) => ({ path: `/v1/users/${users[(i * 7919) % users.length].id}/`, token: admin.token }),
    },
    list: {
      ...common,
      floor: "floor",
      make: (i) => ({ path: `/v1/users/?page=${(i % pages) + 1}&page_size=10`, token: admin.token }),
    },
  };
  const result = await L.compare(server, {
    rounds: opt.rounds,
    baseline: { ...common, make: () => ({ path: "/ht/" }) },
    candidates,
  });
  let profile = null;
  if (opt.profile) {
    // `--profile` alone parses as true: profile the get.
    const name = opt.profile === "true" ? "get" : opt.profile;
    if (!candidates[name]) throw new Error(`--profile: unknown case ${name}`);
    const profiled = await L.cpuProfile(server, () => L.load(server, candidates[name]));
    profile = profiled.profiles.map((p) => ({ target: p.target, case: name, rps: profiled.value.rps, top: p.top }));
    for (const [i, p] of profiled.profiles.entries()) {
      const dir = path.join(import.meta.dirname, "results");
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `queries-${name}-${i}.cpuprofile`), JSON.stringify(p.profile));
      console.error(`profile ${name} ${p.target} (${profiled.value.rps} rps):`);
      for (const f of p.top) console.error(`  ${String(f.self_pct).padStart(5)} %  ${f.fn}`);
    }
  }
  // Issue 25's target: a get and a list at 0.85× one bare D1 query measured in the same rounds.
  const target = 0.85;
  const rows = L.ratioRows(result, target, (name) => name === "get" || name === "list", "ratio_to_floor");
  L.report(
    "queries",
    {
      options: opt,
      results: result,
      profile,
      targets: {
        to_floor_min: target,
        get_pass: result.get.ratio_to_floor >= target,
        list_pass: result.list.ratio_to_floor >= target,
      },
    },
    rows,
  );
});
