// Crash drill: writers update users through the local server, the server's whole process group is
// killed with SIGKILL mid-load, and a new server starts on the same `.wrangler` state. Reports how
// long the read model took to hold every acknowledged command's event, with no manual step, and
// checks that it does. The baseline, measured in the same run, is the same load ended cleanly
// (no crash): how long the read model takes to catch up when nothing is lost. A webhook
// subscription from the feed's beginning, to a receiver in this process (it outlives the kill), must
// also receive every acknowledged event at least once after the restart (issue 23).
//
//   npm run bench:crash -- [--rounds 3] [--users 40] [--writers 16] [--load-ms 4000] [--timeout-ms 120000]
//                          [--env sharded]
// `--env`: a wrangler environment of wrangler.toml (e.g. "sharded", docs/decisions/0026): every D1
// database of that layout is migrated, and the restarts after each kill keep the same layout.
import { DatabaseSync } from "node:sqlite";
import {
  args,
  createUsers,
  localSqliteFiles,
  now,
  report,
  request,
  round,
  run,
  setupAdmin,
  sleep,
  startServer,
  stopServer,
  verdict,
} from "./lib.mjs";
import { startReceiver } from "./receiver.mjs";

const opts = args({ rounds: 3, users: 40, writers: 16, loadMs: 4000, timeoutMs: 120_000, env: "" });
const env = opts.env || undefined;
// The results file is per layout: a sharded run does not overwrite the default's.
const NAME = env ? `crash-drill-${env}` : "crash-drill";

/**
 * Concurrent writers, each updating random users until `stop()`. Only a 200 is an acknowledgement;
 * for each user the highest acknowledged revision is kept (a failed or cut-off request promised nothing).
 */
function startLoad(server, token, users) {
  const acked = new Map();
  let running = true;
  let sent = 0;
  let ok = 0;
  const writer = async (w) => {
    let i = 0;
    while (running) {
      const user = users[(w * 7919 + i++) % users.length];
      sent += 1;
      try {
        const r = await request(server.url, "PUT", `/v1/users/${user.id}/`, {
          token,
          body: { first_name: `w${w}i${i}` },
          timeoutMs: 5_000,
        });
        if (r.status === 200) {
          ok += 1;
          acked.set(user.id, Math.max(acked.get(user.id) ?? 0, r.body.revision));
        }
      } catch {
        // the server went away mid-request: not acknowledged
        if (running) await sleep(20);
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.writers }, (_, w) => writer(w)));
  return {
    acked,
    stop: async () => {
      running = false;
      await done;
      return { sent, ok };
    },
  };
}

/**
 * Polls the read model until every acknowledged revision is there. Returns the ms taken (null on
 * timeout), what was still missing then, and what the first look found missing: the acknowledged
 * events the crash left out of the read model.
 */
async function converge(server, token, acked) {
  const t0 = now();
  const deadline = Date.now() + opts.timeoutMs;
  let pending = [...acked.entries()];
  let first = null;
  while (pending.length > 0) {
    if (Date.now() > deadline) {
      console.error(`still missing after ${opts.timeoutMs} ms: ${JSON.stringify(pending)}`);
      return { ms: null, missing: pending.length, first };
    }
    const still = [];
    let events = 0;
    for (const [id, revision] of pending) {
      try {
        const r = await request(server.url, "GET", `/v1/users/${id}/`, { token, timeoutMs: 5_000 });
        const projected = r.status === 200 ? r.body.user.revision : 0;
        if (projected < revision) {
          still.push([id, revision]);
          events += revision - projected;
        }
      } catch {
        still.push([id, revision]);
      }
    }
    first ??= { users: still.length, events };
    pending = still;
    if (pending.length > 0) await sleep(100);
  }
  return { ms: now() - t0, missing: 0, first };
}

/**
 * Waits until the receiver holds, for every user, each revision up to the acknowledged one (a
 * revision below an acknowledged one is committed too). Returns the ms taken and what was still
 * undelivered when it gave up (0 when everything arrived).
 */
/**
 * What the read model lacked at the kill, read from the local D1 files while no server runs: the
 * users whose row was behind their highest acknowledged revision, and by how many events. A round
 * with none exercised no recovery (everything was projected before the kill).
 */
function behindAtKill(dir, acked) {
  const projected = new Map();
  for (const file of localSqliteFiles(dir, { d1: true })) {
    const db = new DatabaseSync(file);
    try {
      const hasUsers = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'").get();
      if (!hasUsers) continue;
      for (const { id, revision } of db.prepare("SELECT id, revision FROM users").all()) {
        projected.set(id, Math.max(projected.get(id) ?? 0, revision));
      }
    } finally {
      db.close();
    }
  }
  let users = 0;
  let events = 0;
  for (const [id, revision] of acked) {
    const behind = revision - (projected.get(id) ?? 0);
    if (behind > 0) [users, events] = [users + 1, events + behind];
  }
  return { users, events };
}

async function delivered(receiver, acked) {
  const t0 = now();
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const seen = new Map();
    for (const d of receiver.byPath.get("/drill") ?? []) {
      if (!seen.has(d.userId)) seen.set(d.userId, new Set());
      seen.get(d.userId).add(d.revision);
    }
    let undelivered = 0;
    for (const [id, revision] of acked) for (let r = 1; r <= revision; r++) if (!seen.get(id)?.has(r)) undelivered += 1;
    if (undelivered === 0) return { ms: now() - t0, undelivered };
    if (Date.now() > deadline) return { ms: null, undelivered };
    await sleep(50);
  }
}

/** Every acknowledged revision is in the user's own stream too (the write side kept its promise). */
async function streamsHold(server, token, acked) {
  let short = 0;
  for (const [id, revision] of acked) {
    const r = await request(server.url, "GET", `/v1/users/${id}/?consistency=strong`, { token });
    if (!(r.status === 200 && r.body.user.revision >= revision)) short += 1;
  }
  return short;
}

run(NAME, 30 * 60_000, async () => {
  const receiver = await startReceiver();
  let server = await startServer({ quiet: true, env, vars: { WEBHOOK_INSECURE_HOSTS: "127.0.0.1" } });
  console.error(`wrangler dev up on ${server.url} (state ${server.dir}, env ${env ?? "default"})`);
  let admin = await setupAdmin(server);
  await request(server.url, "POST", "/admin/subscriptions", {
    token: admin.token,
    body: { url: `${receiver.url}/drill`, from_position: 0, description: "crash drill" },
  }).then((r) => {
    if (r.status !== 201) throw new Error(`subscribing → ${r.status} ${r.text}`);
  });
  const users = await createUsers(server, admin.token, opts.users);

  // Baseline: the same load, ended without a crash.
  const baseLoad = startLoad(server, admin.token, users);
  await sleep(opts.loadMs);
  const baseCounts = await baseLoad.stop();
  const base = await converge(server, admin.token, baseLoad.acked);
  console.error(`baseline: ${baseCounts.ok} acknowledged, caught up in ${Math.round(base.ms)} ms`);

  const rounds = [];
  for (let r = 1; r <= opts.rounds; r++) {
    const load = startLoad(server, admin.token, users);
    await sleep(opts.loadMs);
    // kill -9 of wrangler and workerd together, mid-load, then a new server on the same state.
    process.kill(-server.child.pid, "SIGKILL");
    const killedAt = now();
    const counts = await load.stop();
    const { dir, vars } = server;
    await stopServer(server, { keepDir: true });
    const atKill = behindAtKill(dir, load.acked);
    server = await startServer({ dir, vars, quiet: true, env });
    const upMs = now() - killedAt;
    admin = { ...admin, ...(await admin.login(server)) };
    const result = await converge(server, admin.token, load.acked);
    const short = await streamsHold(server, admin.token, load.acked);
    const hooks = await delivered(receiver, load.acked);
    const row = {
      round: r,
      acknowledged: counts.ok,
      users_written: load.acked.size,
      restart_ms: Math.round(upMs),
      converged_after_restart_ms: result.ms === null ? null : Math.round(result.ms),
      converged_after_kill_ms: result.ms === null ? null : Math.round(upMs + result.ms),
      behind_at_kill_users: atKill.users,
      behind_at_kill_events: atKill.events,
      behind_at_restart_users: result.first?.users ?? 0,
      behind_at_restart_events: result.first?.events ?? 0,
      missing_in_read_model: result.missing,
      missing_in_streams: short,
      webhooks_after_restart_ms: hooks.ms === null ? null : Math.round(hooks.ms),
      undelivered_webhooks: hooks.undelivered,
    };
    rounds.push(row);
    console.error(JSON.stringify(row));
  }
  await receiver.close();
  const whole = (row) =>
    row.missing_in_read_model === 0 && row.missing_in_streams === 0 && row.undelivered_webhooks === 0;
  const all = rounds.every(whole);
  // A failed drill keeps its state directory, to look at the objects and the D1 ledger.
  await stopServer(server, { keepDir: !all });
  if (!all) console.error(`state kept in ${server.dir}`);

  const worst = Math.max(...rounds.map((row) => row.converged_after_restart_ms ?? Infinity));
  report(
    NAME,
    {
      options: opts,
      baseline_catch_up_ms: round(base.ms, 0),
      rounds,
      every_acknowledged_event_projected_and_delivered: all,
    },
    [
      {
        case: "baseline (no crash)",
        acknowledged: baseCounts.ok,
        "caught up ms": Math.round(base.ms),
        "restart ms": "–",
        "behind at kill (users/events)": "–",
        "behind at restart (users/events)": `${base.first?.users ?? 0}/${base.first?.events ?? 0} (at load end)`,
        missing: 0,
        "undelivered webhooks": "–",
        verdict: "",
      },
      ...rounds.map((row) => ({
        case: `kill -9 round ${row.round}`,
        acknowledged: row.acknowledged,
        "caught up ms": row.converged_after_restart_ms ?? "timeout",
        "restart ms": row.restart_ms,
        "behind at kill (users/events)": `${row.behind_at_kill_users}/${row.behind_at_kill_events}`,
        "behind at restart (users/events)": `${row.behind_at_restart_users}/${row.behind_at_restart_events}`,
        missing: row.missing_in_read_model,
        "undelivered webhooks": row.undelivered_webhooks,
        verdict: verdict(whole(row)),
      })),
    ],
  );
  console.error(
    `every acknowledged event projected and delivered: ${all}; worst convergence after restart ${worst} ms`,
  );
  if (!all) process.exitCode = 1;
});
