#!/usr/bin/env node
// The per-shard numbers of the capacity model (scripts/capacity.mjs, SCALING.md), measured on the
// local runtime and written to bench/capacity.json, which the model reads for its defaults (issue 27).
//
// 1. Through the real service (one server, default layout, `BENCH_RECORD_D1`: bench/floor/entry.ts
//    records the Worker's D1 round trips and the queue batches' spans): `--users` users with
//    `--events-per-user` events each (a create, then renames), one user renamed `--heavy` times more,
//    and as many bare projected appends (`POST /bench/projected/…`, the floor's consumer) as renames.
//    Once drained and stopped, the SQLite files give the storage per row: `dbstat` of the read
//    database (bytes per table with its indexes, over its rows) and of the users' objects (the heavy
//    user's file over the light ones': bytes per event at the margin).
// 2. The consumer's serial D1 time: every D1 round trip the queue consumer made in step 1, replayed
//    in order with node:sqlite on a copy of the database as it was before the run (migrated, empty),
//    each batch in one transaction as D1 runs it. Its floor in the same run: one upsert of the
//    batch's messages per batch, as the floor's consumer writes (`bench_floor`).
// 3. The serial D1 time of a get and of a list page (+ its count): `--seed` users written straight
//    into a migrated read model (as bench/list-scale.mjs seeds it), a server on it records the
//    statements of `--samples` gets, first pages and deep pages; stopped, they are replayed
//    `--rounds` times with node:sqlite, next to the floor of a read (one query by primary key).
//
// Why replay: D1 runs one query at a time, so a database's capacity is 1 / the time its queries
// take. Locally the D1 object's own `meta.duration` moves in coarse steps (0 ms for a get, the same
// 6 ms for a count of 20,000 and of 70,000 rows), and timing the HTTP request measures the one
// shared isolate, not D1.
// node:sqlite runs the same statements on the same files, without the hops. Local-only: production
// D1 adds its own per-query overhead on its own machines; the JSON's notes say which number is which.
//
// Usage: npm run bench:capacity [-- --users 500 --events-per-user 10 --heavy 1000 --seed 1000000
//        --samples 40 --rounds 200]
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { DatabaseSync } from "node:sqlite";
import * as prettier from "prettier";
import * as L from "./lib.mjs";

const opt = L.args({
  users: 500,
  eventsPerUser: 10,
  heavy: 1000,
  seed: 1_000_000,
  samples: 40,
  rounds: 200,
  concurrency: 16,
});
const RECORD = { BENCH_RECORD_D1: "1" };
const PAGE_SIZE = 10;
/** The temporary directories this run made: removed on exit, whether it succeeded or not. */
const temporary = [];
const tempDir = (prefix) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  temporary.push(dir);
  return dir;
};
process.on("exit", () => temporary.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const scratch = tempDir("bench-capacity-");

/** A private copy of a SQLite file (with its WAL), checkpointed, opened with node:sqlite. */
function openCopy(file, name) {
  const to = path.join(scratch, `${name}.sqlite`);
  for (const suffix of ["", "-wal", "-shm"]) {
    if (existsSync(file + suffix)) copyFileSync(file + suffix, to + suffix);
    else rmSync(to + suffix, { force: true });
  }
  const db = new DatabaseSync(to);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  // A commit's durability is not the serial part: a Durable Object's SQLite (D1's too) commits to
  // memory and its storage layer makes it durable behind the output gate. No fsync per commit here.
  db.exec("PRAGMA synchronous = OFF");
  return db;
}

/** Bytes (pages) per table, each with its indexes; an FTS5 table with its shadow tables. */
function bytesByTable(db) {
  const rows = db
    .prepare(
      `SELECT coalesce(m.tbl_name, s.name) AS tbl, sum(s.pgsize) AS bytes
       FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY tbl`,
    )
    .all();
  const out = {};
  for (const { tbl, bytes } of rows) {
    const shadow = /^(.*)_(data|idx|docsize|config|content)$/.exec(tbl);
    const owner = shadow && db.prepare("SELECT 1 FROM sqlite_schema WHERE name = ?").get(shadow[1]) ? shadow[1] : tbl;
    out[owner] = (out[owner] ?? 0) + Number(bytes);
  }
  return out;
}

const rowsOf = (db, table) => Number(db.prepare(`SELECT count(*) AS n FROM "${table}"`).get().n);
const fileBytes = (db) =>
  Number(db.prepare("PRAGMA page_count").get().page_count) * Number(db.prepare("PRAGMA page_size").get().page_size);

/** The read database of a local state: the one D1 file holding `users`. */
function readDatabaseFile(dir) {
  for (const file of L.localSqliteFiles(dir, { d1: true })) {
    const db = new DatabaseSync(file, { readOnly: true });
    const has = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'users'").get();
    db.close();
    if (has) return file;
  }
  throw new Error(`no D1 database with a users table under ${dir}`);
}

/** Runs recorded round trips on `db`; a batch in one transaction, as D1 runs it. Returns failures. */
function replayer(db) {
  const cache = new Map();
  const statement = (sql) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  };
  const bind = (params) => params.map((p) => (typeof p === "boolean" ? Number(p) : p));
  let failures = 0;
  let firstFailure = null;
  const one = ({ sql, params }) => statement(sql).all(...bind(params));
  const play = (trip) => {
    try {
      if (trip.kind === "exec") db.exec(trip.statements[0].sql);
      else if (trip.kind === "batch") {
        db.exec("BEGIN");
        try {
          trip.statements.forEach(one);
          db.exec("COMMIT");
        } catch (error) {
          db.exec("ROLLBACK");
          throw error;
        }
      } else one(trip.statements[0]);
    } catch (error) {
      failures += 1;
      firstFailure ??= `${error.message}: ${trip.statements.map((s) => s.sql.slice(0, 120)).join(" | ")}`;
    }
  };
  return { play, failures: () => failures, firstFailure: () => firstFailure };
}

/** Seconds covered by a union of [start, end] spans (ms). */
function busySeconds(spans) {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let total = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const s of sorted) {
    if (s.start > to) {
      if (Number.isFinite(from)) total += to - from;
      from = s.start;
      to = s.end;
    } else to = Math.max(to, s.end);
  }
  if (Number.isFinite(from)) total += to - from;
  return total / 1000;
}

/**
 * This process's CPU time (user + system, ms): the replays are synchronous, so their CPU time is
 * their work, whatever else the shared machine runs (wall time is reported too, and grows with load).
 */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const takeRecord = async (server) => (await L.expectOk(server.url, "GET", "/bench/d1-record")).body;

/** Step 1: the service writes users and events; returns the record, the state and what was written. */
async function writeThroughService() {
  const dir = tempDir("bench-capacity-state-");
  L.migrateLocalD1(dir);
  // The database before the run: the consumer's round trips are replayed on a copy of it.
  const before = openCopy(readDatabaseFile(dir), "empty");
  before.close();
  const server = await L.startServer({ dir, vars: RECORD });
  console.error(`wrangler dev up on ${server.url} in ${Math.round(server.startMs)} ms`);
  const admin = await L.setupAdmin(server);
  let t = L.now();
  const users = await L.createUsers(server, admin.token, opt.users, {
    concurrency: opt.concurrency,
    timeoutMs: 600_000,
  });
  console.error(`${users.length} users created in ${Math.round(L.now() - t)} ms`);
  const renames = opt.users * (opt.eventsPerUser - 1);
  const run = (make, maxRequests, concurrency = opt.concurrency) =>
    L.load(server, { concurrency, durationMs: 900_000, maxRequests, make });
  t = L.now();
  const renamed = await run(L.renames(users, admin.token), renames);
  console.error(`${renamed.n} renames in ${Math.round(L.now() - t)} ms ${JSON.stringify(renamed.statuses)}`);
  const heavy = await run(L.renames([users[0]], admin.token), opt.heavy, 4);
  console.error(`${heavy.n} renames of one user ${JSON.stringify(heavy.statuses)}`);
  const floor = await run(
    (i) => ({ method: "POST", path: `/bench/projected/f${i % opt.users}`, body: "x".repeat(200) }),
    renames,
  );
  console.error(`${floor.n} bare projected appends ${JSON.stringify(floor.statuses)}`);
  await L.waitDrained(server, admin.token, { timeoutMs: 600_000 });
  // The floor's queue has no status route: wait until its batches stop coming.
  let record = await takeRecord(server);
  for (let quiet = 0; quiet < 3;) {
    await L.sleep(1000);
    const more = await takeRecord(server);
    quiet = more.batches.some((b) => b.queue === "bench-floor") ? 0 : quiet + 1;
    record = { d1: [...record.d1, ...more.d1], batches: [...record.batches, ...more.batches] };
  }
  await L.stopServer(server, { keepDir: true });
  return {
    dir,
    record,
    written: { users: users.length + 1, renames: renamed.n, heavy_renames: heavy.n, floor_appends: floor.n },
  };
}

/** Storage per row, from the files step 1 left. */
function storage(dir) {
  const db = openCopy(readDatabaseFile(dir), "read-after");
  const bytes = bytesByTable(db);
  const tables = Object.keys(bytes).filter((name) =>
    db.prepare("SELECT 1 FROM sqlite_schema WHERE name = ? AND type = 'table'").get(name),
  );
  const rows = Object.fromEntries(tables.map((name) => [name, rowsOf(db, name)]));
  const users = rows.users;
  const events = rows.audit_log;
  // What a user costs the read database whatever its history; what each event adds, forever.
  const perUser = ["users", "users_search", "user_blocks", "user_counts", "streams", "user_intervals", "checkpoints"];
  const perUserBytes = perUser.reduce((sum, name) => sum + (bytes[name] ?? 0), 0);
  const read = {
    file_bytes: fileBytes(db),
    bytes_by_table: bytes,
    rows_by_table: rows,
    user_row_bytes: Math.round(perUserBytes / users),
    user_row_tables: perUser.filter((name) => name in bytes),
    audit_row_bytes: Math.round(bytes.audit_log / events),
    feed_row_bytes: Math.round((bytes.feed ?? 0) / events),
    // Not in the model: one mail row per created user (the welcome mail), in `DB`.
    sent_email_row_bytes: Math.round((bytes.sent_emails ?? 0) / Math.max(1, rows.sent_emails ?? 0)),
  };
  db.close();
  // The users' objects: the heavy user's file over the median light one's, per event.
  // An object only looked up (an id no user has) holds no stream: it is not a user's storage.
  const objects = L.localSqliteFiles(dir, { objectClass: "UserStream" }).flatMap((file, i) => {
    const o = openCopy(file, `object-${i}`);
    const hasStream = o.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'events'").get();
    const out = hasStream ? [{ bytes: fileBytes(o), events: rowsOf(o, "events"), by_table: bytesByTable(o) }] : [];
    o.close();
    return out;
  });
  if (objects.length === 0) throw new Error("no UserStream objects found in the state");
  const byEvents = [...objects].sort((a, b) => a.events - b.events);
  const heavy = byEvents.at(-1);
  const light = byEvents[Math.floor(byEvents.length / 2)];
  const object = {
    objects: objects.length,
    light: { events: light.events, bytes: light.bytes },
    heavy: { events: heavy.events, bytes: heavy.bytes, bytes_by_table: heavy.by_table },
    event_bytes: Math.round((heavy.bytes - light.bytes) / (heavy.events - light.events)),
  };
  return { read, object };
}

/** Step 2: the consumer's recorded round trips, replayed in order on the empty database. */
function replayConsumer(record) {
  const trips = record.d1.filter((trip) => trip.source === "queue");
  const spans = record.batches.filter((b) => b.queue === "user-events");
  const events = spans.reduce((n, b) => n + b.messages, 0);
  const db = new DatabaseSync(path.join(scratch, "empty.sqlite"));
  db.exec("PRAGMA synchronous = OFF"); // as openCopy: no fsync per commit
  const changesBefore = Number(db.prepare("SELECT total_changes() AS n").get().n);
  const r = replayer(db);
  const t0 = L.now();
  const c0 = cpuMs();
  trips.forEach(r.play);
  const ms = cpuMs() - c0;
  const wallMs = L.now() - t0;
  const rowsChanged = Number(db.prepare("SELECT total_changes() AS n").get().n) - changesBefore;
  // The floor: one upsert of each batch's messages, as the floor's consumer writes them.
  db.exec("CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, revision INTEGER NOT NULL)");
  const upsert = db.prepare(
    `INSERT INTO bench_floor (id, revision) SELECT value ->> '$.id', value ->> '$.revision' FROM json_each(?) WHERE true
     ON CONFLICT (id) DO UPDATE SET revision = max(revision, excluded.revision)`,
  );
  let revision = 0;
  const bodies = spans.map((span) => {
    revision += 1;
    return JSON.stringify(Array.from({ length: span.messages }, (_, i) => ({ id: `f${i % opt.users}`, revision })));
  });
  const f0 = cpuMs();
  for (const body of bodies) upsert.run(body);
  const floorMs = cpuMs() - f0;
  db.close();
  const floorSpans = record.batches.filter((b) => b.queue === "bench-floor");
  const floorMessages = floorSpans.reduce((n, b) => n + b.messages, 0);
  return {
    events,
    batches: spans.length,
    round_trips: trips.length,
    statements: trips.reduce((n, t) => n + t.statements.length, 0),
    replay_failures: r.failures(),
    first_failure: r.firstFailure(),
    rows_changed_incl_triggers: rowsChanged,
    distinct_sql: new Set(trips.flatMap((t) => t.statements.map((st) => st.sql))).size,
    serial_cpu_ms: L.round(ms),
    serial_wall_ms: L.round(wallMs),
    serial_ms_per_event: L.round(ms / events, 4),
    events_per_serial_second: Math.round(events / (ms / 1000)),
    floor_events_per_serial_second: Math.round(events / (floorMs / 1000)),
    ratio_to_floor: L.round(floorMs / ms, 3),
    // The whole consumer (the isolate's work and D1's), busy time of its batches: local-only.
    consumer_busy_s: L.round(busySeconds(spans)),
    consumer_events_per_busy_second: Math.round(events / busySeconds(spans)),
    floor_consumer_events_per_busy_second: floorSpans.length
      ? Math.round(floorMessages / busySeconds(floorSpans))
      : null,
  };
}

/** Step 3: gets and list pages on a seeded read model, recorded, then replayed. */
async function reads() {
  const dir = tempDir("bench-capacity-seeded-");
  L.migrateLocalD1(dir);
  let t = L.now();
  L.seedDefaultReadModel(dir, opt.seed);
  console.error(`${opt.seed} users seeded in ${Math.round(L.now() - t)} ms`);
  const server = await L.startServer({ dir, vars: RECORD });
  const admin = await L.setupAdmin(server);
  await L.waitDrained(server, admin.token);
  await takeRecord(server);
  // Live users spread over the table (multiples of 10 are deleted), and pages of the middle half.
  const userAt = (k) => {
    const n = ((k * 7919) % opt.seed) + 1;
    return n % 10 === 0 ? n - 1 : n;
  };
  const pages = Math.ceil((opt.seed * 0.9 + 1) / PAGE_SIZE);
  const deepPage = (k) => Math.floor(pages / 4) + ((k * 7919) % Math.floor(pages / 2)) + 1;
  const kinds = {
    get: (k) => `/v1/users/${L.seededId(userAt(k))}/`,
    list: () => `/v1/users/?page=1&page_size=${PAGE_SIZE}`,
    deep: (k) => `/v1/users/?page=${deepPage(k)}&page_size=${PAGE_SIZE}`,
  };
  const recorded = {};
  for (const [kind, pathOf] of Object.entries(kinds)) {
    recorded[kind] = [];
    for (let k = 0; k < opt.samples; k++) {
      const r = await L.expectOk(server.url, "GET", pathOf(k), { token: admin.token });
      if (kind !== "get" && r.body.results?.length !== PAGE_SIZE) throw new Error(`${kind}: ${r.text.slice(0, 200)}`);
      recorded[kind].push((await takeRecord(server)).d1.filter((trip) => trip.source === "fetch"));
    }
  }
  await L.stopServer(server, { keepDir: true });
  const db = openCopy(readDatabaseFile(dir), "seeded");
  const seededBytes = bytesByTable(db);
  const r = replayer(db);
  const floor = db.prepare("SELECT * FROM users WHERE id = ?");
  // Per round, each kind's samples in turn (so a slow phase of the machine hits all kinds); CPU
  // time summed over the rounds per kind, wall time's median per round next to it.
  const ms = Object.fromEntries([...Object.keys(kinds), "floor"].map((kind) => [kind, { cpu: 0, wall: [] }]));
  const timed = (kind, work) => {
    const t0 = L.now();
    const c0 = cpuMs();
    work();
    ms[kind].cpu += cpuMs() - c0;
    ms[kind].wall.push((L.now() - t0) / opt.samples);
  };
  for (let round = 0; round < opt.rounds; round++) {
    for (const kind of Object.keys(kinds)) timed(kind, () => recorded[kind].forEach((trips) => trips.forEach(r.play)));
    timed("floor", () => {
      for (let k = 0; k < opt.samples; k++) floor.get(L.seededId(userAt(k)));
    });
  }
  db.close();
  rmSync(dir, { recursive: true, force: true });
  const shape = (kind) => ({
    round_trips: recorded[kind][0].length,
    statements: recorded[kind][0].reduce((n, trip) => n + trip.statements.length, 0),
    sql: recorded[kind][0].flatMap((trip) => trip.statements.map((s) => s.sql.replace(/\s+/g, " ").slice(0, 300))),
  });
  const result = {
    seeded_users: opt.seed,
    replay_failures: r.failures(),
    first_failure: r.firstFailure(),
    seeded_users_bytes_per_user: Math.round(
      ["users", "users_search", "user_blocks", "user_counts"].reduce((n, t) => n + (seededBytes[t] ?? 0), 0) / opt.seed,
    ),
  };
  const cpuPer = (kind) => ms[kind].cpu / (opt.rounds * opt.samples);
  for (const kind of Object.keys(ms)) {
    result[kind] = {
      cpu_ms: L.round(cpuPer(kind), 4),
      wall_ms_median: L.round(L.median(ms[kind].wall), 4),
      ratio_to_floor: L.round(cpuPer(kind) / cpuPer("floor"), 2),
      ...(kind === "floor" ? { sql: "SELECT * FROM users WHERE id = ?" } : shape(kind)),
    };
  }
  return result;
}

const commit = () => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: L.ROOT, encoding: "utf8" }).trim();
  } catch {
    return null;
  }
};

await L.run("capacity", 3_600_000, async () => {
  const loadBefore = os.loadavg().map((x) => L.round(x));
  const written = await writeThroughService();
  const stored = storage(written.dir);
  rmSync(written.dir, { recursive: true, force: true });
  const consumer = replayConsumer(written.record);
  console.error(`consumer replayed: ${JSON.stringify(consumer)}`);
  const read = await reads();
  const loadAfter = os.loadavg().map((x) => L.round(x));
  rmSync(scratch, { recursive: true, force: true });
  const date = new Date().toISOString();
  // What scripts/capacity.mjs reads: each limit with how it was measured.
  const limits = {
    "d1-row-writes": {
      value: consumer.events_per_serial_second * 2,
      unit: "rows/s (the model's 2 per event: users row, audit row)",
      how: "the consumer's D1 round trips of step 1 replayed in order (node:sqlite, one transaction per batch): events per second of serial SQLite (CPU) time × 2. The replayed batches also write the feed, the ledger and checkpoints, so the 2 rows stand for an event's whole write",
      local_only: true,
    },
    "d1-read-ms": {
      value: read.get.cpu_ms,
      unit: "ms of serial SQLite (CPU) time per get",
      how: `a get's recorded statements replayed on ${opt.seed} seeded users (CPU time over ${opt.rounds} rounds of ${opt.samples} users)`,
      local_only: true,
    },
    "d1-list-ms": {
      value: L.round(Math.max(read.list.cpu_ms, read.deep.cpu_ms), 4),
      unit: "ms of serial SQLite (CPU) time per list page + count",
      how: `the slower of page 1 and a deep page (page ≥ 2 walks user_blocks), recorded and replayed on ${opt.seed} seeded users`,
      local_only: true,
    },
    "user-row-bytes": {
      value: stored.read.user_row_bytes,
      unit: "bytes per user in the read database",
      how: `dbstat pages of ${stored.read.user_row_tables.join(", ")} (with their indexes and the trigram index) over ${stored.read.rows_by_table.users} users created through the service`,
      local_only: false,
    },
    "audit-row-bytes": {
      value: stored.read.audit_row_bytes,
      unit: "bytes per audit row",
      how: `dbstat pages of audit_log and its indexes over its ${stored.read.rows_by_table.audit_log} rows`,
      local_only: false,
    },
    "feed-row-bytes": {
      value: stored.read.feed_row_bytes,
      unit: "bytes per feed row",
      how: `dbstat pages of feed and its indexes over the ${stored.read.rows_by_table.audit_log} events`,
      local_only: false,
    },
    "event-bytes": {
      value: stored.object.event_bytes,
      unit: "bytes per event in a user's object",
      how: `a user's object file with ${stored.object.heavy.events} events over the median one's (${stored.object.light.events}), per event`,
      local_only: false,
    },
  };
  const result = {
    date,
    commit: commit(),
    load_avg: { before: loadBefore, after: loadAfter },
    options: opt,
    sqlite: new DatabaseSync(":memory:").prepare("SELECT sqlite_version() AS v").get().v,
    limits,
    notes: [
      "local_only: a time measured on this machine's SQLite (node:sqlite, the files the local runtime wrote); production D1 runs the same SQLite on other machines and adds its own per-query overhead, so these are orders of magnitude, not D1's published figures.",
      "Bytes are SQLite pages (dbstat, page size 4096) of the files the local runtime wrote through the real service; D1 and Durable Objects bill and limit the same SQLite pages.",
      "Times are the CPU time (process.cpuUsage) of node:sqlite running the recorded statements: the replay is synchronous, so that is its work, which a loaded machine does not inflate as it does wall time (reported next to it). Statements are prepared once per distinct SQL text, as a statement cache would.",
      "consumer.consumer_events_per_busy_second is the local consumer as a whole (the one isolate's work and the local D1's), over the union of its batches' spans while commands ran on the same thread: local-only and load-bound, not a production limit.",
      "Ratios to the floor were measured in the same run on the same files: the read floor is one query by primary key, the write floor one upsert of each batch's messages.",
    ],
    written: written.written,
    storage: stored,
    consumer,
    reads: read,
  };
  const rows = Object.entries(limits).map(([name, l]) => ({
    limit: name,
    value: l.value,
    unit: l.unit,
    "× floor":
      name === "d1-read-ms"
        ? read.get.ratio_to_floor
        : name === "d1-list-ms"
          ? Math.max(read.list.ratio_to_floor, read.deep.ratio_to_floor)
          : name === "d1-row-writes"
            ? consumer.ratio_to_floor
            : "–",
    "local only": l.local_only ? "yes" : "no",
  }));
  L.report("capacity", result, rows);
  // Committed, so written as `npm run check`'s Prettier wants it.
  const file = path.join(L.ROOT, "bench", "capacity.json");
  const options = { ...(await prettier.resolveConfig(file)), filepath: file };
  writeFileSync(file, await prettier.format(JSON.stringify(result, null, 2), options));
  console.error(`bench/capacity.json written (${statSync(file).size} bytes)`);
});
