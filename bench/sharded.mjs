#!/usr/bin/env node
// The sharded layout against the default, in one run (issue 27, docs/decisions/0026): two servers
// side by side, the default wrangler.toml and `--env sharded` (four queues, four read databases,
// DB on its own), each with the same users; then, interleaved in rounds so that the machine's
// drift falls on both alike, the same loads on each: commands across many users (PUT, an admin
// renaming others), a get of one user and a list's first page. Reports each load's req/s in the
// sharded layout ÷ the default's (median of the rounds' ratios) and, after the commands, how long
// each layout's read side took to catch up.
// Usage: npm run bench:sharded [-- --users 200 --concurrency 32 --seconds 5 --rounds 3]
import * as L from "./lib.mjs";

const opt = L.args({ users: 200, concurrency: 32, seconds: 5, rounds: 3 });

await L.run("sharded", 600_000, async () => {
  const layouts = {};
  for (const name of ["default", "sharded"]) {
    const { server, admin, users } = await L.startWithUsers(opt.users, name === "sharded" ? { env: "sharded" } : {});
    await L.copyIdentities(server, admin.token);
    const latest = new Map(users.map((u) => [u.id, u.revision]));
    layouts[name] = { server, admin, users, latest };
  }
  const common = { concurrency: opt.concurrency, durationMs: opt.seconds * 1000 };
  const loads = {
    commands: ({ admin, users, latest }) => ({
      ...common,
      make: L.renames(users, admin.token),
      check: (r, spec) => latest.set(spec.userId, Math.max(latest.get(spec.userId), r.body.revision)),
    }),
    get: ({ admin, users }) => ({
      ...common,
      make: (i) => ({ path: `/v1/users/${users[i % users.length].id}/`, token: admin.token }),
    }),
    list: ({ admin }) => ({ ...common, make: () => ({ path: "/v1/users/?page_size=20", token: admin.token }) }),
  };
  const runs = Object.fromEntries(Object.keys(loads).map((load) => [load, { default: [], sharded: [] }]));
  const catchUp = { default: [], sharded: [] };
  for (let round = 0; round < opt.rounds; round++) {
    // Each round swaps which layout goes first.
    const order = round % 2 === 0 ? ["default", "sharded"] : ["sharded", "default"];
    for (const [load, make] of Object.entries(loads)) {
      for (const name of order) {
        const layout = layouts[name];
        const result = await L.load(layout.server, make(layout));
        runs[load][name].push(result);
        if (load === "commands") {
          const t = L.now();
          const pending = layout.users.map((u) => ({ id: u.id, revision: layout.latest.get(u.id) }));
          await L.waitProjected(layout.server, layout.admin.token, pending, { timeoutMs: 120_000 });
          catchUp[name].push(Math.round(L.now() - t));
        }
      }
    }
    console.error(
      `  round ${round + 1}/${opt.rounds}: ` +
        Object.keys(loads)
          .map((load) => `${load} ${runs[load].default.at(-1).rps}/s vs ${runs[load].sharded.at(-1).rps}/s`)
          .join(", "),
    );
  }
  const summary = Object.fromEntries(
    Object.entries(runs).map(([load, { default: base, sharded }]) => {
      const ratios = sharded.map((r, i) => r.rps / base[i].rps);
      return [
        load,
        {
          default_rps: L.median(base.map((r) => r.rps)),
          sharded_rps: L.median(sharded.map((r) => r.rps)),
          ratios: ratios.map((x) => L.round(x, 3)),
          ratio: L.round(L.median(ratios), 3),
          non_2xx: [...base, ...sharded].reduce(
            (n, r) =>
              n + r.errors + Object.entries(r.statuses).reduce((a, [s, c]) => a + (s.startsWith("2") ? 0 : c), 0),
            0,
          ),
        },
      ];
    }),
  );
  const pass = summary.commands.ratio >= 0.9;
  L.report("sharded", { options: opt, summary, catch_up_ms: catchUp, targets: { commands: pass } }, [
    ...Object.entries(summary).map(([load, s]) => ({
      measure: `${load}: sharded ÷ default req/s (per round)`,
      value: `${s.ratio} (${s.ratios.join(" / ")}; ${s.sharded_rps}/s vs ${s.default_rps}/s)`,
      target: load === "commands" ? "≥ 0.9" : "–",
      verdict: load === "commands" ? L.verdict(pass) : "",
    })),
    {
      measure: "read side caught up after each commands round, ms (default / sharded)",
      value: `${catchUp.default.join(", ")} / ${catchUp.sharded.join(", ")}`,
      target: "–",
      verdict: "",
    },
  ]);
});
