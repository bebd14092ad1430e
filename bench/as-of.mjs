#!/usr/bin/env node
// As of T, across users (issue 29): GET /admin/users/?as_of=T on validity intervals of 1,000 users and
// of 100,000, interleaved in rounds, each server with its own state, next to the platform's floor for
// a read measured in the same run (`GET /bench/read/{id}`: one bare D1 query by primary key, a route
// of bench/floor/entry.ts). Two questions: "who was suspended at T" (a page of 100 from a random
// user on, by cursor) and "who held this email at T" (a random user's old email, in upper case).
// The intervals (four per user, a fifth of them suspended at T, a third suspended earlier) and the
// users' rows are written straight into the local D1 before the server starts: this measures the
// query, not the projection.
// Usage: npm run bench:as-of [-- --small 1000 --large 100000 --concurrency 16 --seconds 5 --rounds 3]
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({ small: 1000, large: 100_000, concurrency: 16, seconds: 5, rounds: 3 });
const AS_OF = "2025-04-01T00:00:00.000Z";
const idOf = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
/** The route's opaque cursor (src/read/as-of.ts): continue after user `i`. */
const cursorAfter = (i) =>
  Buffer.from(JSON.stringify(["as_of", idOf(i)]))
    .toString("base64")
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

function seededState(count) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-as-of-"));
  L.migrateLocalD1(dir);
  const sql = path.join(dir, "seed.sql");
  const at = (date, i) => `strftime('%Y-%m-%dT%H:%M:%fZ', '${date}', '+' || ${i} || ' seconds')`;
  // Per user: created active; from February suspended if i % 3 = 0; from March suspended if
  // i % 5 = 0 (the interval holding at T, April 1st); from June a new email.
  writeFileSync(
    sql,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
INSERT INTO users (id, username, email, first_name, last_name, role, status, created_at, updated_at, revision)
SELECT printf('00000000-0000-4000-8000-%012d', i), 'seed' || i, 'new' || i || '@example.com', 'F', 'L', 'user',
  'active', ${at("2025-01-01", "i")}, ${at("2025-06-01", "i")}, 4 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count}),
r(rev, status_of, email_of, from_date, to_date) AS (VALUES
  (1, 'x', 'seed', '2025-01-01', '2025-02-01'), (2, 'three', 'seed', '2025-02-01', '2025-03-01'),
  (3, 'five', 'seed', '2025-03-01', '2025-06-01'), (4, 'x', 'new', '2025-06-01', NULL))
INSERT INTO user_intervals (user_id, revision, username, email, status, role, valid_from, valid_to)
SELECT printf('00000000-0000-4000-8000-%012d', i), rev, 'seed' || i, email_of || i || '@example.com',
  CASE WHEN status_of = 'three' AND i % 3 = 0 THEN 'suspended' WHEN status_of = 'five' AND i % 5 = 0 THEN 'suspended' ELSE 'active' END,
  'user', strftime('%Y-%m-%dT%H:%M:%fZ', from_date, '+' || i || ' seconds'),
  CASE WHEN to_date IS NOT NULL THEN strftime('%Y-%m-%dT%H:%M:%fZ', to_date, '+' || i || ' seconds') END
FROM n, r;\n`,
  );
  L.wranglerSync(["d1", "execute", "DB", "--local", "--persist-to", dir, "--file", sql]);
  return dir;
}

await L.run("as-of", 900_000, async () => {
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
    console.error(
      `${name}: ${count} users' intervals seeded and served on ${server.url} in ${Math.round(L.now() - t0)} ms`,
    );
  }
  // A random user, spread over the table by a fixed stride, so both sizes read all over it.
  const userAt = (name, i) => ((i * 7919) % servers[name].count) + 1;
  const cases = {
    floor: (name, i) => ({ path: `/bench/read/${idOf(userAt(name, i))}` }),
    suspended: (name, i) => {
      // At least 600 users before the end (120 suspended at T), so that every page is a full one.
      const from = userAt(name, i) % Math.max(1, servers[name].count - 600);
      return { path: `/admin/users/?as_of=${AS_OF}&status=suspended&limit=100&cursor=${cursorAfter(from)}` };
    },
    email: (name, i) => ({ path: `/admin/users/?as_of=${AS_OF}&email=SEED${userAt(name, i)}@EXAMPLE.COM` }),
  };
  const expected = { suspended: 100, email: 1 };
  const spec = (name, kind) => ({
    concurrency: opt.concurrency,
    durationMs: opt.seconds * 1000,
    warmupMs: 500,
    make: (i) => ({ ...cases[kind](name, i), token: servers[name].admin.token }),
    check: (r) => {
      if (kind in expected && JSON.parse(r.text).results.length !== expected[kind])
        throw new Error(`${kind} on ${name}: ${r.text.slice(0, 200)}`);
    },
  });
  const runs = {};
  for (let r = 0; r < opt.rounds; r++) {
    for (const kind of Object.keys(cases)) {
      for (const name of ["small", "large"]) {
        const result = await L.load(servers[name].server, spec(name, kind));
        (runs[`${kind}_${name}`] ??= []).push(result);
        console.error(
          `  round ${r + 1}/${opt.rounds} ${kind} ${name}: ${result.rps} rps, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, errors ${result.errors}`,
        );
      }
    }
  }
  const target = 1.5;
  const median = (key, field) => L.median(runs[key].map((x) => x[field]));
  // Per round: large's p50 over small's, so a slow phase of the machine hits both.
  const slowdown = (kind) =>
    L.median(runs[`${kind}_large`].map((large, i) => large.p50_ms / runs[`${kind}_small`][i].p50_ms));
  const rows = [];
  const slowdowns = {};
  for (const kind of Object.keys(cases)) {
    slowdowns[kind] = L.round(slowdown(kind), 3);
    for (const name of ["small", "large"]) {
      const key = `${kind}_${name}`;
      const targeted = kind !== "floor" && name === "large";
      rows.push({
        case: `${kind === "floor" ? "floor (bare D1 read)" : kind === "suspended" ? "suspended at T, page of 100" : "held this email at T"}, ${servers[name].count} users`,
        "req/s": median(key, "rps"),
        "p50 ms": median(key, "p50_ms"),
        "p99 ms": median(key, "p99_ms"),
        "req/s ÷ floor": L.round(median(key, "rps") / median(`floor_${name}`, "rps"), 2),
        "p50 × small": name === "large" ? L.round(slowdown(kind), 2) : 1,
        target: targeted ? `≤ ${target}` : "–",
        verdict: targeted ? L.verdict(slowdown(kind) <= target) : "",
      });
    }
  }
  const pass = slowdowns.suspended <= target && slowdowns.email <= target;
  L.report("as-of", { options: opt, as_of: AS_OF, runs, slowdowns_p50: slowdowns, target, pass }, rows);
});
