#!/usr/bin/env node
// Commands: throughput and p50/p95/p99 latency of PUT /v1/users/{id}/ across many users and on
// one hot user, against the do-nothing baseline GET /ht/ of the same Worker, interleaved in rounds.
// Usage: npm run bench:commands [-- --users 200 --concurrency 32 --seconds 5 --rounds 3]
import * as L from "./lib.mjs";

const opt = L.args({ users: 200, concurrency: 32, seconds: 5, rounds: 3, maxRequests: 50_000 });

await L.run("commands", 180_000, async () => {
  const { server, admin, users } = await L.startWithUsers(opt.users);
  const hot = users[0];
  const latest = new Map();
  const track = (r, spec) => latest.set(spec.userId, Math.max(latest.get(spec.userId) ?? 0, r.body.revision));
  const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000, maxRequests: opt.maxRequests };
  const result = await L.compare(server, {
    rounds: opt.rounds,
    baseline: { ...common, make: () => ({ path: "/ht/" }) },
    candidates: {
      many_users: {
        ...common,
        check: track,
        make: (i) => {
          const user = users[i % users.length];
          return {
            method: "PUT",
            path: `/v1/users/${user.id}/`,
            token: admin.token,
            body: { first_name: `F${i}` },
            userId: user.id,
          };
        },
      },
      hot_user: {
        ...common,
        check: track,
        make: (i) => ({
          method: "PUT",
          path: `/v1/users/${hot.id}/`,
          token: admin.token,
          body: { last_name: `L${i}` },
          userId: hot.id,
        }),
      },
    },
    // Let the projection catch up so the next baseline does not run against a draining backlog.
    between: async () => {
      const pending = users.filter((u) => latest.has(u.id)).map((u) => ({ id: u.id, revision: latest.get(u.id) }));
      const ms = await L.waitProjected(server, admin.token, pending, { timeoutMs: 60_000 });
      console.error(`  projection drained in ${Math.round(ms)} ms`);
    },
  });
  const target = 0.5;
  const rows = L.ratioRows(result, target, (name) => name === "many_users");
  L.report(
    "commands",
    {
      options: opt,
      results: result,
      targets: { many_users_ratio_min: target, pass: result.many_users.ratio_to_baseline >= target },
    },
    rows,
  );
});
