#!/usr/bin/env node
// Commands: throughput and p50/p95/p99 latency of PUT /v1/users/{id}/ across many users and on
// one hot user, against the do-nothing baseline GET /ht/ of the same Worker and against the
// platform's floor for a write (a bare Durable Object append: one RPC, one insert; a route of the
// bench's own entry, bench/floor/entry.ts) over as many objects, interleaved in rounds. The
// admin acting on others costs two object calls (the admin's token check, the command); each user
// acting on itself with its own token (self_many) one. `floor_projected` is the append plus one
// queue message and a consumer that writes each batch to D1 in one statement: what the platform
// charges locally for a write that reaches the read side, before any of the service's own work.
// `create` is POST /v1/users/ (a new stream, its username and email claimed) against `floor_fresh`,
// an append to an object that did not exist (one new SQLite database, as the create's stream).
// Usage: npm run bench:commands [-- --users 200 --concurrency 32 --seconds 5 --rounds 3 --profile --uncopied]
// --profile: afterwards, a CPU profile of the isolate under the many-users load (top functions by
// self time on stderr and in the JSON; the raw .cpuprofile saved under bench/results/).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({
  users: 200,
  concurrency: 32,
  seconds: 5,
  rounds: 3,
  maxRequests: 50_000,
  profile: false,
  uncopied: false,
  only: "",
});
// --only create,floor_fresh: just these cases (and the baseline), for a quicker A/B of a few.
const only = opt.only ? new Set(opt.only.split(",")) : null;
const pick = (cases) => Object.fromEntries(Object.entries(cases).filter(([name]) => !only || only.has(name)));

await L.run("commands", opt.profile ? 300_000 : only ? 600_000 : 240_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users);
  const hot = users[0];
  // As a deployment after its upgrade step (L.copyIdentities); --uncopied measures the window before it.
  if (!opt.uncopied) await L.copyIdentities(server, admin.token);
  // Each user's own token, for self_many.
  const tokens = await L.loginAll(server, users);
  const latest = new Map();
  const track = (r, spec) => latest.set(spec.userId, Math.max(latest.get(spec.userId) ?? 0, r.body.revision));
  // Wake every floor object once, as setup woke the users' objects: both sides start warm.
  await Promise.all(users.map((u) => L.expectOk(server.url, "POST", `/bench/append/${u.id}`)));
  // Names and floor objects unique across rounds (each round's `i` starts at 0 again).
  const tag = Date.now().toString(36);
  let fresh = 0;
  const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000, maxRequests: opt.maxRequests };
  const manyUsers = {
    ...common,
    floor: "floor_many",
    check: track,
    make: L.renames(users, admin.token),
  };
  const result = await L.compare(server, {
    rounds: opt.rounds,
    baseline: { ...common, make: () => ({ path: "/ht/" }) },
    candidates: pick({
      floor_many: { ...common, make: (i) => ({ method: "POST", path: `/bench/append/${users[i % users.length].id}` }) },
      floor_hot: { ...common, make: () => ({ method: "POST", path: `/bench/append/${hot.id}` }) },
      // The append plus what any projected write needs: one queue message, one D1 write per batch.
      floor_projected: {
        ...common,
        floor: "floor_many",
        make: (i) => ({ method: "POST", path: `/bench/projected/${users[i % users.length].id}` }),
      },
      // A write to an object that did not exist: one new SQLite database, as a create's stream.
      floor_fresh: { ...common, make: () => ({ method: "POST", path: `/bench/append/fresh-${tag}-${fresh++}` }) },
      // POST /v1/users/ by the admin: a new stream, the username and email claimed in the registry.
      create: {
        ...common,
        floor: "floor_fresh",
        make: () => {
          const username = `c${tag}_${fresh++}`;
          return {
            method: "POST",
            path: "/v1/users/",
            token: admin.token,
            body: {
              username,
              email: `${username}@example.com`,
              first_name: "F",
              last_name: "L",
              password: "password-long",
            },
          };
        },
      },
      many_users: manyUsers,
      self_many: {
        ...common,
        floor: "floor_many",
        check: track,
        make: L.renames(users, tokens),
      },
      hot_user: {
        ...common,
        floor: "floor_hot",
        check: track,
        make: (i) => ({
          method: "PUT",
          path: `/v1/users/${hot.id}/`,
          token: admin.token,
          body: { last_name: `L${i}` },
          userId: hot.id,
        }),
      },
    }),
    // Let the projection catch up so the next baseline does not run against a draining backlog.
    between: async () => {
      const pending = users.filter((u) => latest.has(u.id)).map((u) => ({ id: u.id, revision: latest.get(u.id) }));
      const ms = await L.waitProjected(server, admin.token, pending, { timeoutMs: 60_000 });
      console.error(`  projection drained in ${Math.round(ms)} ms`);
    },
  });
  let profile = null;
  if (opt.profile) {
    const profiled = await L.cpuProfile(server, () => L.load(server, manyUsers));
    profile = profiled.profiles.map((p) => ({ target: p.target, rps: profiled.value.rps, top: p.top }));
    for (const [i, p] of profiled.profiles.entries()) {
      const dir = path.join(import.meta.dirname, "results");
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `commands-many-users-${i}.cpuprofile`), JSON.stringify(p.profile));
      console.error(`profile ${p.target} (${profiled.value.rps} rps):`);
      for (const f of p.top) console.error(`  ${String(f.self_pct).padStart(5)} %  ${f.fn}`);
    }
  }
  // The target is against the floor: a command (projection included, locally) at half a bare append.
  const target = 0.5;
  const rows = L.ratioRows(
    result,
    target,
    (name) => ["many_users", "self_many", "hot_user"].includes(name),
    "ratio_to_floor",
  );
  const toProjectedFloor = (name) =>
    result[name] && result.floor_projected ? L.round(result[name].rps / result.floor_projected.rps, 3) : null;
  L.report(
    "commands",
    {
      options: opt,
      results: result,
      profile,
      to_projected_floor: { many_users: toProjectedFloor("many_users"), self_many: toProjectedFloor("self_many") },
      targets: {
        to_floor_min: target,
        pass: result.many_users?.ratio_to_floor >= target && result.hot_user?.ratio_to_floor >= target,
      },
    },
    rows,
  );
});
