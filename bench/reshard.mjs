#!/usr/bin/env node
// A re-shard of the read databases while reads keep answering (issue 27, docs/decisions/0027), from
// two read databases to four, in one run. `--env sharded` with READ_DATABASES=READ_0,READ_1 gets the
// users; its state is then copied, and two servers run side by side on the copies: the baseline,
// still on the two databases, and the re-shard (READ_0..3, READ_DATABASES_PREVIOUS=READ_0,READ_1).
// Interleaved rounds measure, each as a ratio to the baseline: a get of any user, a get of a user
// not moved yet (its row only in its previous database: a second look), a list's first page (both
// layouts' databases merged). Then the full rebuild runs on the re-shard under a load of gets of
// every user (every answer must be a 200), the same loads are measured again with everyone moved,
// and once more after READ_DATABASES_PREVIOUS is cleared (a restart).
// Usage: npm run bench:reshard [-- --users 200 --concurrency 16 --seconds 3 --rounds 3 --per-step 20]
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({ users: 200, concurrency: 16, seconds: 3, rounds: 3, perStep: 20 });
const BEFORE = "READ_0,READ_1";
const AFTER = "READ_0,READ_1,READ_2,READ_3";

const moves = (id) => BEFORE.split(",")[L.shardOf(id, 2)] !== AFTER.split(",")[L.shardOf(id, 4)];

await L.run("reshard", 900_000, async () => {
  const dirs = [];
  const start = async (dir, vars) => {
    const server = await L.startServer({ dir, env: "sharded", vars: { REBUILD_USERS_PER_STEP: opt.perStep, ...vars } });
    console.error(`wrangler dev up on ${server.url} (${JSON.stringify(vars)}) in ${Math.round(server.startMs)} ms`);
    return server;
  };
  const fresh = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "bench-reshard-"));
    dirs.push(dir);
    return dir;
  };
  try {
    // The users, in two read databases.
    const origin = fresh();
    let server = await start(origin, { READ_DATABASES: BEFORE });
    const admin = await L.setupAdmin(server);
    const users = await L.createUsers(server, admin.token, opt.users);
    await L.waitProjected(server, admin.token, users);
    await L.waitDrained(server, admin.token, { timeoutMs: 120_000 });
    await L.stopServer(server, { keepDir: true });
    const copy = fresh();
    cpSync(origin, copy, { recursive: true });
    const baseline = await start(copy, { READ_DATABASES: BEFORE });
    let resharding = await start(origin, { READ_DATABASES: AFTER, READ_DATABASES_PREVIOUS: BEFORE });
    const moving = users.filter((user) => moves(user.id));
    console.error(`${users.length} users, ${moving.length} of them move`);

    const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000 };
    const loads = {
      "get (any user)": {
        ...common,
        make: (i) => ({ path: `/v1/users/${users[i % users.length].id}/`, token: admin.token }),
      },
      "get (a user that moves)": {
        ...common,
        make: (i) => ({ path: `/v1/users/${moving[i % moving.length].id}/`, token: admin.token }),
      },
      "list (first page of 20)": { ...common, make: () => ({ path: "/v1/users/?page_size=20", token: admin.token }) },
    };
    /** Interleaved rounds of every load on both servers: the candidate's req/s ÷ the baseline's. */
    const measure = async (label, candidate) => {
      const out = {};
      for (const [name, spec] of Object.entries(loads)) {
        const ratios = [];
        const base = [];
        const cand = [];
        for (let round = 0; round < opt.rounds; round++) {
          const order = round % 2 === 0 ? [baseline, candidate] : [candidate, baseline];
          const results = new Map();
          for (const s of order) results.set(s, await L.load(s, spec));
          base.push(results.get(baseline));
          cand.push(results.get(candidate));
          ratios.push(results.get(candidate).rps / results.get(baseline).rps);
        }
        const bad = [...base, ...cand].reduce(
          (n, r) => n + r.errors + Object.entries(r.statuses).reduce((a, [s, c]) => a + (s.startsWith("2") ? 0 : c), 0),
          0,
        );
        out[name] = {
          baseline_rps: L.median(base.map((r) => r.rps)),
          rps: L.median(cand.map((r) => r.rps)),
          p50_ms: L.median(cand.map((r) => r.p50_ms)),
          baseline_p50_ms: L.median(base.map((r) => r.p50_ms)),
          ratios: ratios.map((x) => L.round(x, 3)),
          ratio: L.round(L.median(ratios), 3),
          non_2xx: bad,
        };
        console.error(
          `  ${label} ${name}: ${out[name].rps}/s vs ${out[name].baseline_rps}/s (${out[name].ratios.join(" / ")})`,
        );
      }
      return out;
    };

    const before = await measure("re-shard, nothing moved:", resharding);

    // The rebuild, under gets of every user.
    const t0 = L.now();
    const started = await L.expectOk(resharding.url, "POST", "/admin/projections/rebuild?restart=true", {
      token: admin.token,
    });
    let progress = started.body;
    let done = false;
    const steps = [];
    // Gets of every user until the rebuild is done: each answer's status counted.
    const statuses = {};
    const latencies = [];
    let errors = 0;
    let sent = 0;
    const during = Promise.all(
      Array.from({ length: opt.concurrency }, async () => {
        while (!done) {
          const user = users[sent++ % users.length];
          try {
            const r = await L.request(resharding.url, "GET", `/v1/users/${user.id}/`, { token: admin.token });
            statuses[r.status] = (statuses[r.status] ?? 0) + 1;
            if (r.status === 200) latencies.push(r.ms);
          } catch {
            errors += 1;
          }
        }
      }),
    );
    while (progress.status === "running") {
      await L.sleep(200);
      progress = (await L.expectOk(resharding.url, "GET", "/admin/projections/rebuild", { token: admin.token })).body;
      if (steps.at(-1) !== progress.users_done) steps.push(progress.users_done);
      if (L.now() - t0 > 300_000) throw new Error(`rebuild not done in 300 s: ${JSON.stringify(progress)}`);
    }
    done = true;
    await during;
    const underRebuild = { ...L.summarize(latencies), statuses, errors };
    const rebuildMs = Math.round(L.now() - t0);
    console.error(
      `rebuild ${progress.status} in ${rebuildMs} ms (${steps.join(" → ")}); gets meanwhile ${JSON.stringify(underRebuild.statuses)}, ${underRebuild.errors} errors`,
    );

    const moved = await measure("re-shard, everyone moved:", resharding);
    await L.stopServer(resharding, { keepDir: true });
    resharding = await start(origin, { READ_DATABASES: AFTER, READ_DATABASES_PREVIOUS: "" });
    const cleared = await measure("previous layout cleared:", resharding);
    const counts = await Promise.all(
      [baseline, resharding].map(
        async (s) => (await L.expectOk(s.url, "GET", "/v1/users/?page_size=1", { token: admin.token })).body.count,
      ),
    );

    const gets = underRebuild.n;
    const failed = errors + Object.entries(statuses).reduce((a, [s, c]) => a + (s === "200" ? 0 : c), 0);
    const pass = failed === 0 && progress.status === "done";
    const phases = { before, moved, cleared };
    L.report(
      "reshard",
      {
        options: opt,
        users: users.length,
        moving: moving.length,
        phases,
        rebuild: {
          ms: rebuildMs,
          progress,
          steps,
          gets_meanwhile: {
            ok: gets,
            statuses: underRebuild.statuses,
            p50_ms: underRebuild.p50_ms,
            p99_ms: underRebuild.p99_ms,
          },
        },
        list_count: { baseline: counts[0], resharded: counts[1] },
        targets: { answers_during_rebuild: pass },
      },
      [
        ...Object.entries(phases).flatMap(([phase, loadsOf]) =>
          Object.entries(loadsOf).map(([name, r]) => ({
            measure: `${phase}: ${name}, req/s ÷ two databases'`,
            value: `${r.ratio} (${r.ratios.join(" / ")}; ${r.rps}/s vs ${r.baseline_rps}/s, p50 ${r.p50_ms} vs ${r.baseline_p50_ms} ms)`,
            target: "–",
            verdict: r.non_2xx === 0 ? "" : `${r.non_2xx} non-2xx`,
          })),
        ),
        {
          measure: `rebuild of ${progress.users_total} users, ${opt.perStep} per step, under gets of every user`,
          value: `${rebuildMs} ms; ${gets} gets answered 200 (p50 ${underRebuild.p50_ms} ms, p99 ${underRebuild.p99_ms} ms), ${failed} did not`,
          target: "every get 200, rebuild done",
          verdict: L.verdict(pass),
        },
        {
          measure: "list count: two databases / four after the re-shard",
          value: `${counts[0]} / ${counts[1]}`,
          target: "equal",
          verdict: L.verdict(counts[0] === counts[1]),
        },
      ],
    );
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
});
