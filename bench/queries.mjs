#!/usr/bin/env node
// Queries: throughput and p50/p95/p99 of GET /v1/users/{id}/ and GET /v1/users/ (list, page of 10)
// against the do-nothing baseline GET /ht/ of the same Worker, interleaved in rounds, and against the
// platform's floor for a read measured in the same rounds: one D1 query by id and nothing else
// (`GET /bench/read/{id}`, a route of the benchmarks' entry bench/floor/entry.ts only).
// Usage: npm run bench:queries [-- --users 200 --concurrency 32 --seconds 5 --rounds 3]
import * as L from "./lib.mjs";

const opt = L.args({ users: 200, concurrency: 32, seconds: 5, rounds: 3, maxRequests: 100_000 });

await L.run("queries", 180_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users);
  const pages = Math.max(1, Math.floor(opt.users / 10));
  const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000, maxRequests: opt.maxRequests };
  const result = await L.compare(server, {
    rounds: opt.rounds,
    baseline: { ...common, make: () => ({ path: "/ht/" }) },
    candidates: {
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
    },
  });
  const target = 0.8;
  const rows = L.ratioRows(result, target, (name) => name === "get" || name === "list");
  L.report(
    "queries",
    {
      options: opt,
      results: result,
      targets: {
        ratio_min: target,
        get_pass: result.get.ratio_to_baseline >= target,
        list_pass: result.list.ratio_to_baseline >= target,
      },
    },
    rows,
  );
});
