#!/usr/bin/env node
// Lists and searches at scale (issue 27): on a read model of 1,000 users and on one of 1,000,000,
// interleaved in rounds, each server with its own state, next to the platform's floor for a read
// measured in the same run (`GET /bench/read/{id}`: one bare D1 query by primary key, a route of
// bench/floor/entry.ts). Cases: get one user, list page 1, a deep page (a random page of the middle
// half of the list), a prefix search (`username=seed{i}x`) and a substring search inside the email
// (`email=D{i}X@EXAMPLE`, upper case), each finding one user. The rows are written straight into
// the local D1 before the server starts (the triggers fill user_counts, user_blocks and the trigram
// index as the projector's writes would), so this measures the queries, not the projection. Then the
// trigram counts are taken as the day's merge takes them (a search reads its needle's rarest trigrams
// by them, docs/decisions/0028); the index itself is left unmerged, as between two merges.
// `--env sharded`: the same in wrangler.toml's `[env.sharded]` layout (docs/decisions/0026), each
// user's row written into the read database `shardOf` gives it (`READ_0`..`READ_{n-1}`), so that a
// list merges the databases' pages and a count sums them. The floor still reads `DB`, which then
// holds no users (a miss by primary key: the same one-query cost).
// Usage: npm run bench:list-scale [-- --small 1000 --large 1000000 --concurrency 16 --seconds 5 --rounds 3]
//        npm run bench:list-scale -- --env sharded [--read-databases 4]
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({
  small: 1000,
  large: 1_000_000,
  concurrency: 16,
  seconds: 5,
  rounds: 3,
  env: "",
  readDatabases: 4,
});
const PAGE_SIZE = 10;
const idOf = L.seededId;
const sharded = opt.env === "sharded";
if (opt.env && !sharded) throw new Error(`--env ${opt.env}: only "sharded" is known`);
// Every wrangler this bench starts (migrations, seeding, `wrangler dev`) reads this environment.
if (sharded) process.env.CLOUDFLARE_ENV = "sharded";
/** The read databases' bindings in shard order, as `[env.sharded]` names them in `READ_DATABASES`. */
const READS = sharded ? Array.from({ length: opt.readDatabases }, (_, k) => `READ_${k}`) : ["DB"];

/** The user numbers 1..count whose rows go to each read database. */
function usersByDatabase(count) {
  const groups = READS.map(() => []);
  for (let i = 1; i <= count; i++) groups[L.shardOf(idOf(i), READS.length)].push(i);
  return groups;
}

/** The day's recount of the trigrams at least 32 users share. */
const RECOUNT = `DELETE FROM search_trigram_counts;
INSERT INTO search_trigram_counts (col, trigram, docs) SELECT col, term, doc FROM users_search_terms WHERE doc >= 32;\n`;

/** Users per statement of a sharded seed: its numbers as a JSON literal, under D1's 100 KB statement. */
const PER_STATEMENT = 10_000;

/** A state directory whose read model holds `count` users, one in ten deleted, one in 25 suspended. */
function seededState(count) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-list-"));
  L.migrateLocalD1(dir);
  // `DB` is migrated above; in the sharded layout each read database is one more.
  for (const name of READS.filter((name) => name !== "DB")) {
    L.wranglerSync(["d1", "migrations", "apply", name, "--local", "--persist-to", dir]);
  }
  const groups = sharded ? usersByDatabase(count) : null;
  READS.forEach((name, k) => {
    const sql = path.join(dir, `seed-${name}.sql`);
    if (!groups) {
      writeFileSync(
        sql,
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})\n${L.seedUsersStatement("n")}`,
      );
    } else {
      const statements = [];
      for (let at = 0; at < groups[k].length; at += PER_STATEMENT) {
        const numbers = JSON.stringify(groups[k].slice(at, at + PER_STATEMENT));
        statements.push(L.seedUsersStatement(`(SELECT value AS i FROM json_each('${numbers}'))`));
      }
      writeFileSync(sql, statements.join(""));
    }
    // As countTrigramsStatements in src/read/search-index.ts (this script does not load TypeScript).
    writeFileSync(sql, `${readFileSync(sql, "utf8")}${RECOUNT}`);
    L.wranglerSync(["d1", "execute", name, "--local", "--persist-to", dir, "--file", sql]);
  });
  return dir;
}

await L.run("list-scale", 3_600_000, async () => {
  const servers = {};
  for (const [name, count] of [
    ["small", opt.small],
    ["large", opt.large],
  ]) {
    const t0 = L.now();
    const dir = seededState(count);
    const seeded = L.now() - t0;
    const server = await L.startServer({ dir });
    const admin = await L.setupAdmin(server);
    servers[name] = { server, admin, count, seeded_ms: Math.round(seeded) };
    console.error(`${name}: ${count} users seeded in ${Math.round(seeded)} ms, served on ${server.url}`);
  }
  // A random live user (not a multiple of 10: those are deleted), spread over the table by a stride.
  const userAt = (name, i) => {
    const n = ((i * 7919) % servers[name].count) + 1;
    return n % 10 === 0 ? n - 1 : n;
  };
  // The live list's pages (the setup's admin is one more live user); a deep page is one of the middle half.
  const pages = (name) => Math.ceil((servers[name].count * 0.9 + 1) / PAGE_SIZE);
  const deepPage = (name, i) => Math.floor(pages(name) / 4) + ((i * 7919) % Math.floor(pages(name) / 2)) + 1;
  const cases = {
    floor: (name, i) => ({ path: `/bench/read/${idOf(userAt(name, i))}` }),
    get: (name, i) => ({ path: `/v1/users/${idOf(userAt(name, i))}/` }),
    list: () => ({ path: `/v1/users/?page=1&page_size=${PAGE_SIZE}` }),
    deep: (name, i) => ({ path: `/v1/users/?page=${deepPage(name, i)}&page_size=${PAGE_SIZE}` }),
    prefix: (name, i) => ({ path: `/v1/users/?username=seed${userAt(name, i)}x` }),
    substring: (name, i) => ({ path: `/v1/users/?email=D${userAt(name, i)}X@EXAMPLE` }),
  };
  const expected = { list: PAGE_SIZE, deep: PAGE_SIZE, prefix: 1, substring: 1 };
  const spec = (name, kind) => ({
    concurrency: opt.concurrency,
    durationMs: opt.seconds * 1000,
    warmupMs: 500,
    make: (i) => ({ ...cases[kind](name, i), token: servers[name].admin.token }),
    check: (r) => {
      if (kind in expected && JSON.parse(r.text).results?.length !== expected[kind])
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
  const labels = {
    floor: "floor (bare D1 read)",
    get: "get one user",
    list: "list, page 1",
    deep: "list, a deep page",
    prefix: "search, username prefix",
    substring: "search, email substring",
  };
  const rows = [];
  const slowdowns = {};
  for (const kind of Object.keys(cases)) {
    slowdowns[kind] = L.round(slowdown(kind), 3);
    for (const name of ["small", "large"]) {
      const key = `${kind}_${name}`;
      const targeted = kind !== "floor" && name === "large";
      rows.push({
        case: `${labels[kind]}, ${servers[name].count} users`,
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
  const pass = Object.entries(slowdowns).every(([kind, s]) => kind === "floor" || s <= target);
  const seeded_ms = Object.fromEntries(Object.entries(servers).map(([name, s]) => [name, s.seeded_ms]));
  L.report(
    sharded ? "list-scale-sharded" : "list-scale",
    { options: opt, seeded_ms, runs, slowdowns_p50: slowdowns, target, pass },
    rows,
  );
});
