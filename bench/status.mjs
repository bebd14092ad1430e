#!/usr/bin/env node
// Status cost vs the number of users: GET /admin/projections/status with 1,000 and with 100,000
// users in the read model (users rows, audit checkpoints and ledger rows seeded straight into the
// local D1, 50 of them owed something), each against GET /ht/ of the same Worker in the same run.
// Usage: npm run bench:status [-- --small 1000 --large 100000 --concurrency 8 --seconds 4 --rounds 3]
import { spawnSync } from "node:child_process";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({ small: 1000, large: 100_000, owed: 50, concurrency: 8, seconds: 4, rounds: 3 });
const WRANGLER = path.join(L.ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

/** Users `from`..`to` (1-based), settled at revision 3; the first `opt.owed` of all are owed 2 more. */
function seed(dir, from, to) {
  const ids = `WITH RECURSIVE c(x) AS (SELECT ${from} UNION ALL SELECT x + 1 FROM c WHERE x < ${to})
    SELECT printf('00000000-0000-4000-8000-%012d', x) AS id, x FROM c`;
  const sql = [
    `INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, revision)
       SELECT id, 'seed' || x, 'seed' || x || '@example.com', 'F', 'L', 'user', 'active',
         '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 3 FROM (${ids});`,
    `INSERT INTO checkpoints (projection, user_id, revision, state) SELECT 'audit', id, 3, '{}' FROM (${ids});`,
    `INSERT INTO streams (user_id, published_revision, confirmed_revision, owed_since)
       SELECT id, CASE WHEN x <= ${opt.owed} THEN 5 ELSE 3 END, 3, ${Date.now()} FROM (${ids});`,
  ].join("\n");
  const r = spawnSync(
    process.execPath,
    [WRANGLER, "d1", "execute", "DB", "--local", "--persist-to", dir, "--command", sql],
    {
      cwd: L.ROOT,
      encoding: "utf8",
      env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
    },
  );
  if (r.status !== 0) throw new Error(`seeding failed: ${r.stderr || r.stdout}`);
}

await L.run("status", 20 * 60_000, async () => {
  let server = await L.startServer();
  const admin = await L.setupAdmin(server);
  const results = {};
  let seeded = 0;
  for (const [label, users] of [
    ["small", opt.small],
    ["large", opt.large],
  ]) {
    const { dir, vars } = server;
    await L.stopServer(server, { keepDir: true });
    seed(dir, seeded + 1, users);
    seeded = users;
    server = await L.startServer({ dir, vars });
    const token = (await admin.login(server)).token;
    const status = await L.expectOk(server.url, "GET", "/admin/projections/status", { token });
    console.error(`${users} users: users_behind ${status.body.users_behind}, backlog ${status.body.outbox.backlog}`);
    const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000 };
    results[label] = {
      users,
      ...(await L.compare(server, {
        rounds: opt.rounds,
        baseline: { ...common, make: () => ({ path: "/ht/" }) },
        candidates: { status: { ...common, make: () => ({ path: "/admin/projections/status", token }) } },
      })),
    };
  }
  const growth = L.round(results.large.status.p50_ms / results.small.status.p50_ms, 2);
  const ratioGrowth = L.round(results.small.status.ratio_to_baseline / results.large.status.ratio_to_baseline, 2);
  const rows = ["small", "large"].map((label) => ({
    users: results[label].users,
    "status req/s": results[label].status.rps,
    "p50 ms": results[label].status.p50_ms,
    "p99 ms": results[label].status.p99_ms,
    "× baseline": results[label].status.ratio_to_baseline,
    "baseline p50 ms": results[label].baseline.p50_ms,
  }));
  L.report(
    "status",
    { options: opt, results, p50_growth: growth, ratio_growth: ratioGrowth, pass: ratioGrowth <= 1.5 },
    rows,
  );
  console.error(
    `status p50 at ${opt.large} vs ${opt.small} users: ${growth}×; throughput ratio change ${ratioGrowth}×`,
  );
});
