#!/usr/bin/env node
// List at scale: GET /v1/users/ (the first pages of 10) on a read model of 1,000 users and on one
// of 100,000, interleaved in rounds, each server with its own state. The rows are written straight
// into the local D1 before the server starts (the list reads only D1; creating 100,000 users through
// the API would take most of an hour here), so this measures the query, not the projection.
// Usage: npm run bench:list-scale [-- --small 1000 --large 100000 --concurrency 16 --seconds 5 --rounds 3]
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({ small: 1000, large: 100_000, concurrency: 16, seconds: 5, rounds: 3, pages: 10 });

/** A state directory whose read model holds `count` users, one in ten deleted, one in 25 suspended. */
function seededState(count) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-list-"));
  L.migrateLocalD1(dir);
  const sql = path.join(dir, "seed.sql");
  writeFileSync(
    sql,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, deleted_at, revision)
SELECT printf('00000000-0000-4000-8000-%012d', i), 'seed' || i, 'seed' || i || '@example.com', 'F', 'L', 'user',
  CASE WHEN i % 10 = 0 THEN 'deleted' WHEN i % 25 = 0 THEN 'suspended' ELSE 'active' END,
  strftime('%Y-%m-%dT%H:%M:%fZ', '2025-01-01', '+' || i || ' seconds'),
  strftime('%Y-%m-%dT%H:%M:%fZ', '2025-01-01', '+' || i || ' seconds'),
  CASE WHEN i % 10 = 0 THEN '2025-06-01T00:00:00.000Z' END, 1
FROM n;\n`,
  );
  L.wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", dir, "--file", sql]);
  return dir;
}

await L.run("list-scale", 600_000, async () => {
  const servers = {};
  for (const [name, count] of [
    ["small", opt.small],
    ["large", opt.large],
  ]) {
    const t0 = L.now();
    const dir = seededState(count);
    const server = await L.startServer({ dir });
    const admin = await L.setupAdmin(server);
    servers[name] = { server, admin, count };
    console.error(`${name}: ${count} users seeded and served on ${server.url} in ${Math.round(L.now() - t0)} ms`);
  }
  const spec = (name) => ({
    concurrency: opt.concurrency,
    durationMs: opt.seconds * 1000,
    warmupMs: 500,
    make: (i) => ({ path: `/v1/users/?page=${(i % opt.pages) + 1}&page_size=10`, token: servers[name].admin.token }),
  });
  const runs = { small: [], large: [] };
  for (let r = 0; r < opt.rounds; r++) {
    for (const name of ["small", "large"]) {
      const result = await L.load(servers[name].server, spec(name));
      runs[name].push(result);
      console.error(
        `  round ${r + 1}/${opt.rounds} ${name}: ${result.rps} rps, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms`,
      );
    }
  }
  // Slowdown per round: large's latency over small's (p50), and small's throughput over large's.
  const slowdown = L.median(runs.large.map((large, i) => large.p50_ms / runs.small[i].p50_ms));
  const target = 1.5;
  const median = (name, key) => L.median(runs[name].map((x) => x[key]));
  const rows = ["small", "large"].map((name) => ({
    case: `list, ${servers[name].count} users`,
    "req/s": median(name, "rps"),
    "p50 ms": median(name, "p50_ms"),
    "p99 ms": median(name, "p99_ms"),
    "p50 × small": name === "large" ? L.round(slowdown, 2) : 1,
    target: name === "large" ? `≤ ${target}` : "–",
    verdict: name === "large" ? L.verdict(slowdown <= target) : "",
  }));
  L.report(
    "list-scale",
    { options: opt, runs, slowdown_p50: L.round(slowdown, 3), target, pass: slowdown <= target },
    rows,
  );
});
