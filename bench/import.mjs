#!/usr/bin/env node
// Import: events per second of `users-cli import FILE` (the CLI, over HTTP, against `wrangler dev`)
// for a file of reference rows (users × events each), then, in the same run and on the same data,
// the full projection rebuild's events/s as a baseline (issue 26: import ≥ 0.4× of it), and the
// platform's floor for an import: fresh Durable Objects, one per user, each storing that user's rows
// in one call and nothing else (`POST /bench/fresh`, bench/floor/entry.ts), at the same concurrency
// (issue 26: import ≥ 0.5× of it).
// The whole file goes to one server, whose workerd processes' open file descriptors are sampled
// every second (the peak is reported: a local server has 20,000).
// Usage: npm run bench:import [-- --users 10000 --events 10 --chunk-lines 2000 --chunk-users 100 --parallel 4]
// (--profile 1: a CPU profile of the isolate over the import, its top functions printed.)
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as L from "./lib.mjs";

const opt = L.args({ users: 10_000, events: 10, chunkLines: 2000, chunkUsers: 100, parallel: 4, profile: 0 });
const cpuMs = (cpu) => cpu.user_ms + cpu.system_ms;
// One real bcrypt hash (cost 4) for every user: import never verifies it, the first login would.
const HASH = "$2b$04$XN2PVyimi/mfTMRwOHAs/.ZacDHSy.YfFATGNfUNV2mLVT/eNn./O";

/** The reference's rows as `row_to_json` writes them: a USER_CREATED, then updates and a password change. */
function referenceFile(dir) {
  const lines = [];
  const t0 = Date.UTC(2025, 0, 1);
  for (let u = 0; u < opt.users; u++) {
    const id = crypto.randomUUID();
    for (let r = 1; r <= opt.events; r++) {
      const timestamp = new Date(t0 + u * 60_000 + r * 1000).toISOString().replace("Z", "123+00:00");
      const data =
        r === 1
          ? {
              role: "user",
              email: `user${u}@example.com`,
              username: `user${u}`,
              last_name: "L",
              first_name: "F",
              password_hash: HASH,
              hashing_method: "bcrypt",
            }
          : r === opt.events
            ? { password_hash: HASH, hashing_method: "bcrypt" }
            : { email: null, last_name: null, first_name: `F${r}` };
      const type = r === 1 ? "USER_CREATED" : r === opt.events ? "PASSWORD_CHANGED" : "USER_UPDATED";
      lines.push(
        JSON.stringify({
          id: crypto.randomUUID(),
          aggregate_id: id,
          event_type: type,
          timestamp,
          version: "1",
          revision: r,
          data,
          created_at: timestamp,
          updated_at: timestamp,
        }),
      );
    }
  }
  const file = path.join(dir, "reference-events.ndjson");
  writeFileSync(file, `${lines.join("\n")}\n`);
  return { file, events: lines.length };
}

function cli(server, token, configDir, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--experimental-strip-types",
        "--disable-warning=ExperimentalWarning",
        path.join(L.ROOT, "cli", "main.ts"),
        "--url",
        server.url,
        "--json",
        ...argv,
      ],
      {
        cwd: L.ROOT,
        env: { ...process.env, USERS_API_TOKEN: token, XDG_CONFIG_HOME: configDir },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`cli exited ${code}: ${out}`)),
    );
  });
}

await L.run("import", 2_400_000, async () => {
  const server = await L.startServer();
  console.error(`wrangler dev up on ${server.url} in ${Math.round(server.startMs)} ms`);
  const admin = await L.setupAdmin(server);
  // The deployment as after its upgrade step (a no-op before issue 26): the shards ask no old object.
  await L.copyIdentities(server, admin.token);
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-import-"));
  /** Open file descriptors of the server's workerd processes. */
  const fds = () => L.workerdRssMb(server).processes.reduce((n, p) => n + readdirSync(`/proc/${p.pid}/fd`).length, 0);
  try {
    const { file, events } = referenceFile(dir);
    console.error(`${opt.users} users × ${opt.events} events = ${events} rows written`);

    // The whole file into this one server. Until this change a local server ran out of its 20,000
    // descriptors after ~1,600 users (each live object holds its SQLite database, WAL and shared
    // memory open), so this ran in parts on restarted servers; the peak is watched now instead.
    const loadAtStart = os.loadavg().map((x) => L.round(x, 2));
    let peakFds = 0;
    const sampler = setInterval(() => {
      try {
        peakFds = Math.max(peakFds, fds());
      } catch {
        // a process ended between listing and reading
      }
    }, 1000);
    const t0 = L.now();
    const runImport = () =>
      cli(server, admin.token, dir, [
        "import",
        file,
        "--chunk-lines",
        String(opt.chunkLines),
        "--chunk-users",
        String(opt.chunkUsers),
        "--parallel",
        String(opt.parallel),
      ]);
    let summary;
    let importCpu;
    if (opt.profile) {
      const profiled = await L.cpuProfile(server, runImport, { top: 25 });
      summary = profiled.value;
      for (const p of profiled.profiles)
        console.error(`profile of ${p.target}:\n${p.top.map((f) => `  ${f.self_pct}%  ${f.fn}`).join("\n")}`);
    } else ({ value: summary, cpu: importCpu } = await L.workerdCpuOf(server, runImport));
    const importMs = L.now() - t0;
    const fdsAfterImport = fds();
    console.error(
      `imported ${summary.imported} in ${Math.round(importMs)} ms; workerd peaked at ${peakFds} open files, ${fdsAfterImport} now`,
    );
    const drainedMs = await L.waitDrained(server, admin.token, { timeoutMs: 1_800_000 });
    clearInterval(sampler);
    console.error(
      `imported ${summary.imported} in ${Math.round(importMs)} ms, projected ${Math.round(drainedMs)} ms later; workerd peaked at ${peakFds} open files (${fdsAfterImport} right after the import); load ${os.loadavg()[0].toFixed(2)}`,
    );
    if (summary.rejected.length > 0) throw new Error(`rejected: ${JSON.stringify(summary.rejected.slice(0, 3))}`);
    const projectedMs = importMs + drainedMs;
    const importEps = summary.imported / (importMs / 1000);
    const projectedEps = summary.imported / (projectedMs / 1000);

    // The baseline, same run, same data: the full rebuild of the read model.
    const r0 = L.now();
    await L.expectOk(server.url, "POST", "/admin/projections/rebuild?restart=true", { token: admin.token });
    let progress;
    for (;;) {
      progress = (await L.expectOk(server.url, "GET", "/admin/projections/rebuild", { token: admin.token })).body;
      if (progress.status === "done") break;
      if (L.now() - r0 > 600_000) throw new Error("rebuild not done after 600 s");
      await L.sleep(200);
    }
    const rebuildEps = progress.events_per_second ?? 0;

    // The floor: what creating one object per user costs here, with no registry, outbox or queue.
    const floorObjects = Math.min(opt.users, 2000);
    const f0 = L.now();
    const { cpu: floorCpu } = await L.workerdCpuOf(server, () =>
      Promise.all(
        Array.from({ length: opt.parallel }, (_, i) =>
          L.expectOk(server.url, "POST", "/bench/fresh", {
            body: {
              objects: Math.floor(floorObjects / opt.parallel) + (i < floorObjects % opt.parallel ? 1 : 0),
              rows: opt.events,
              rowBytes: 300,
              inParallel: 32,
            },
            timeoutMs: 600_000,
          }),
        ),
      ),
    );
    const floorEps = (floorObjects * opt.events) / ((L.now() - f0) / 1000);
    // workerd's CPU (user + system ms) per event: the machine's other load moves wall-clock rates
    // by ±40 % from run to run, far less the work each side does.
    const cpuPerEvent = importCpu && {
      import: L.round(cpuMs(importCpu) / summary.imported, 3),
      floor: L.round(cpuMs(floorCpu) / (floorObjects * opt.events), 3),
    };
    const floorByCpu = cpuPerEvent && L.round(cpuPerEvent.floor / cpuPerEvent.import, 2);

    L.report(
      "import",
      {
        options: opt,
        rows: events,
        imported: summary.imported,
        skipped: summary.skipped,
        cli_events_per_second: summary.events_per_second,
        import_ms: L.round(importMs),
        peak_open_fds: peakFds,
        open_fds_after_import: fdsAfterImport,
        import_events_per_second: L.round(importEps, 0),
        projected_ms: L.round(projectedMs),
        import_and_projection_events_per_second: L.round(projectedEps, 0),
        rebuild: { users: progress.users_total, events: progress.events, events_per_second: rebuildEps },
        floor: { objects: floorObjects, rows_each: opt.events, events_per_second: L.round(floorEps, 0) },
        cpu_ms_per_event: cpuPerEvent,
        load_average: { at_start: loadAtStart, at_end: os.loadavg().map((x) => L.round(x, 2)) },
        targets: {
          import_vs_rebuild_met: importEps >= 0.4 * rebuildEps,
          import_vs_floor_met: importEps >= 0.5 * floorEps,
          import_vs_rebuild: L.round(importEps / rebuildEps, 2),
          import_vs_floor: L.round(importEps / floorEps, 2),
          import_vs_floor_by_cpu: floorByCpu,
        },
      },
      [
        {
          measure: "rows imported",
          value: `${summary.imported} of ${events}`,
          target: "all",
          verdict: L.verdict(summary.imported === events),
        },
        {
          measure: "workerd's open files at their peak (one server, the whole file)",
          value: peakFds,
          target: "< 20,000",
          verdict: L.verdict(peakFds < 20_000),
        },
        {
          measure: "import events/s (CLI wall clock)",
          value: L.round(importEps, 0),
          target: "–",
          verdict: "",
        },
        {
          measure: "import + read model caught up, events/s",
          value: L.round(projectedEps, 0),
          target: "–",
          verdict: "",
        },
        { measure: "rebuild events/s, same data (job clock)", value: rebuildEps, target: "baseline", verdict: "" },
        {
          measure: "floor: a fresh object per user storing its rows, nothing else, events/s",
          value: L.round(floorEps, 0),
          target: "ceiling",
          verdict: "",
        },
        {
          measure: "import / floor",
          value: `${L.round(importEps / floorEps, 2)}×`,
          target: "≥ 0.5×",
          verdict: L.verdict(importEps >= 0.5 * floorEps),
        },
        ...(floorByCpu
          ? [
              {
                measure: "import / floor by workerd CPU per event",
                value: `${floorByCpu}× (${cpuPerEvent.import} vs ${cpuPerEvent.floor} ms)`,
                target: "≥ 0.5×",
                verdict: "",
              },
            ]
          : []),
        {
          measure: "import / rebuild",
          value: `${L.round(importEps / rebuildEps, 2)}×`,
          target: "≥ 0.4×",
          verdict: L.verdict(importEps >= 0.4 * rebuildEps),
        },
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
