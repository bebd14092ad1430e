#!/usr/bin/env node
// Capacity model: given a workload, prints each component's demand against its limit, its headroom
// and the first bottleneck. The limits are Cloudflare's published ones (SCALING.md cites each) or,
// where the platform publishes none, what `npm run bench:capacity` measured here and committed in
// bench/capacity.json (its date, commit, machine, load and method); every one can be overridden by a flag.
//
//   npm run capacity -- --users 1e6 --commands 1e3 --reads 5e3 --events-per-user 20
//   npm run capacity -- --users 1e8 --commands 1e5 --queues 32 --read-dbs 64 --json
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const MEASURED = new URL("../bench/capacity.json", import.meta.url);
let measured;
try {
  measured = JSON.parse(readFileSync(MEASURED, "utf8"));
} catch (error) {
  throw new Error(`${MEASURED.pathname}: ${error.message} (npm run bench:capacity writes it)`, { cause: error });
}

/** A limit measured by bench:capacity: its value, and a source naming the run. */
function fromBench(name, help) {
  const limit = measured.limits?.[name];
  if (!limit || !Number.isFinite(limit.value)) throw new Error(`bench/capacity.json has no limit ${name}`);
  const local = limit.local_only ? ", local runtime" : "";
  return {
    default: String(limit.value),
    help,
    source: `measured: bench:capacity ${measured.date.slice(0, 10)}${local}`,
  };
}

const workloadFlags = {
  users: { default: "1e6", help: "users (streams) in the system" },
  commands: { default: "1e3", help: "commands per second, all users together" },
  reads: { default: "5e3", help: "queries per second (get + list), all users together" },
  "events-per-user": { default: "20", help: "average events in a user's stream (history kept forever)" },
  "creates-share": { default: "0.01", help: "share of commands that create a user" },
  "hot-user-share": { default: "0.001", help: "share of all commands that hit the busiest single user" },
  "list-share": { default: "0.2", help: "share of reads that are list queries (the rest are gets)" },
};

// Deployment shape: what the steps in SCALING.md change.
const shapeFlags = {
  queues: { default: "1", help: "event queues (EVENT_QUEUES), users sharded across them by id hash" },
  "read-dbs": {
    default: "1",
    help: "D1 read-model databases (READ_DATABASES), users sharded by id hash; past 1, the audit log and feed stay in DB",
  },
  "read-replicas": { default: "0", help: "D1 read replicas per database (Sessions API)" },
  "audit-in-d1": {
    default: "1",
    help: "1: the per-event logs (audit log, feed) live in D1; 0: moved out (SCALING.md step 3)",
  },
  "directory-shards": {
    default: "1",
    help: "UserDirectory objects (DIRECTORY_SHARDS), users sharded by id hash (shardOf in src/shards.ts)",
  },
};

// Limits. `source` says where each number comes from; SCALING.md has the references.
const limitFlags = {
  "object-writes": {
    default: "300",
    help: "commands/s one Durable Object sustains",
    source: "published: 200-500 writes/s",
  },
  "object-bytes": { default: "10e9", help: "storage per Durable Object", source: "published: 10 GB" },
  "queue-msgs": { default: "5000", help: "messages/s per queue", source: "published: 5,000 msg/s" },
  "d1-row-writes": fromBench(
    "d1-row-writes",
    "rows/s one D1 database writes through the consumer's batches (2 rows per event: users row, audit row)",
  ),
  "d1-read-ms": fromBench("d1-read-ms", "serial D1 time of one get (ms)"),
  "d1-list-ms": fromBench("d1-list-ms", "serial D1 time of one list page + count (ms)"),
  "d1-bytes": { default: "10e9", help: "size limit of one D1 database", source: "published: 10 GB" },
  "user-row-bytes": fromBench(
    "user-row-bytes",
    "bytes of one user in the read model (row, indexes, search index, ledger)",
  ),
  "audit-row-bytes": fromBench("audit-row-bytes", "bytes of one audit row with its indexes"),
  "feed-row-bytes": fromBench("feed-row-bytes", "bytes of one feed row with its indexes"),
  "event-bytes": fromBench("event-bytes", "bytes of one stored event in a user's object (at the margin)"),
};

const all = { ...workloadFlags, ...shapeFlags, ...limitFlags };
const { values } = parseArgs({
  options: {
    ...Object.fromEntries(Object.entries(all).map(([name, f]) => [name, { type: "string", default: f.default }])),
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  for (const [name, f] of Object.entries(all)) {
    console.log(`--${name.padEnd(18)} ${f.help} (default ${f.default}${f.source ? `; ${f.source}` : ""})`);
  }
  process.exit(0);
}
const n = (name) => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`--${name} must be a non-negative number, got ${values[name]}`);
  return value;
};

/** Each component: what the workload asks of it, what it can give, and the step that lifts its limit. */
function model(v) {
  const eventsPerSecond = v.commands; // one event per command (a create is one event too)
  const logs = v["audit-in-d1"] ? 1 : 0; // the per-event logs (audit row, feed row) in D1
  const readDbs = v["read-dbs"];
  // With one database (`DB` is the read model) it takes an event's whole write: the user's row and
  // the audit row. Sharded (decision 0026), a read database takes the user's row and `DB` the logs.
  const rowsPerReadDb = readDbs === 1 ? eventsPerSecond * (1 + logs) : eventsPerSecond / readDbs;
  const rowsOfDb = readDbs === 1 ? 0 : eventsPerSecond * logs;
  const listReads = v.reads * v["list-share"];
  const getReads = v.reads - listReads;
  // A list is answered by every shard (scatter-gather); a get by the one holding the user.
  const readMsPerDbPerSecond = (getReads / readDbs) * v["d1-read-ms"] + listReads * v["d1-list-ms"];
  const readCopies = 1 + v["read-replicas"];
  const logBytes = logs * v.users * v["events-per-user"] * (v["audit-row-bytes"] + v["feed-row-bytes"]);
  const usersBytes = v.users * v["user-row-bytes"];
  return [
    {
      component: "busiest user's Durable Object",
      unit: "commands/s",
      demand: v.commands * v["hot-user-share"],
      capacity: v["object-writes"],
      step: "nothing to shard: one user's writes are serial by design; throttle that client",
    },
    {
      component: "largest stream's storage",
      unit: "bytes",
      demand: v["events-per-user"] * 50 * v["event-bytes"], // a heavy user: 50x the average history
      capacity: v["object-bytes"],
      step: "snapshots keep reads cheap; archive old events to R2 past the limit",
    },
    {
      component: "UserDirectory (registrations)",
      unit: "creates/s per shard",
      demand: (v.commands * v["creates-share"]) / v["directory-shards"],
      capacity: v["object-writes"],
      step: "shard the directory by user-id hash (DIRECTORY_SHARDS, --directory-shards)",
    },
    {
      component: "event queue",
      unit: "msg/s per queue",
      demand: eventsPerSecond / v.queues,
      capacity: v["queue-msgs"],
      step: "shard queues by user-id hash, one consumer each (--queues)",
    },
    {
      component: "read-model D1 writes",
      unit: "rows/s per database",
      demand: rowsPerReadDb,
      capacity: v["d1-row-writes"],
      step: "shard the read model by user-id hash (--read-dbs); move the audit log out (--audit-in-d1 0)",
    },
    {
      component: "DB writes (audit log, feed)",
      unit: "rows/s (0: in the read DB, or out)",
      demand: rowsOfDb,
      capacity: v["d1-row-writes"],
      step: "move the audit log and feed out of D1, one database per month (--audit-in-d1 0)",
    },
    {
      component: "read-model D1 reads",
      unit: "ms of D1 time per s, per copy",
      demand: readMsPerDbPerSecond / readCopies,
      // Writes take their share of the same serial database first.
      capacity: Math.max(0, 1000 * (1 - Math.min(1, rowsPerReadDb / v["d1-row-writes"]))),
      step: "read replicas through the Sessions API (--read-replicas); lists from a search index past a few shards",
    },
    {
      component: "read-model D1 size",
      unit: "bytes per database",
      demand: readDbs === 1 ? usersBytes + logBytes : usersBytes / readDbs,
      capacity: v["d1-bytes"],
      step:
        readDbs === 1 && logBytes > usersBytes
          ? "move the audit log and feed out (--audit-in-d1 0): they are most of it, and sharding leaves them in DB"
          : "shard by user-id hash (--read-dbs); move the audit log out (--audit-in-d1 0)",
    },
    {
      component: "DB size (audit log, feed)",
      unit: "bytes (0: in the read DB, or out)",
      demand: readDbs === 1 ? 0 : logBytes,
      capacity: v["d1-bytes"],
      step: "move the audit log and feed out of D1, one database per month (--audit-in-d1 0)",
    },
  ].map((row) => ({ ...row, headroom: row.demand === 0 ? Infinity : row.capacity / row.demand }));
}

const v = Object.fromEntries(Object.keys(all).map((name) => [name, n(name)]));
const rows = model(v);
const bottleneck = [...rows].sort((a, b) => a.headroom - b.headroom)[0];
// The per-event logs grow with the commands, whatever the history assumed above: how fast they
// would fill D1 databases if they stayed there (SCALING.md step 3).
const logBytesPerDay = v.commands * 86_400 * (v["audit-row-bytes"] + v["feed-row-bytes"]);
const logDatabasesPerMonth = (30 * logBytesPerDay) / v["d1-bytes"];

if (values.json) {
  console.log(
    JSON.stringify({
      rows,
      first_bottleneck: bottleneck.component,
      log_bytes_per_day: logBytesPerDay,
      log_databases_per_month: logDatabasesPerMonth,
    }),
  );
} else {
  const fmt = (x) =>
    x === Infinity ? "∞" : x >= 1e4 || (x > 0 && x < 0.01) ? x.toExponential(1) : String(Math.round(x * 100) / 100);
  console.log(
    "component".padEnd(34),
    "unit".padEnd(36),
    "demand".padStart(9),
    "capacity".padStart(9),
    "headroom".padStart(9),
  );
  for (const row of rows) {
    const mark = row.headroom < 1 ? "  OVER" : row.headroom < 2 ? "  tight" : "";
    console.log(
      row.component.padEnd(34),
      row.unit.padEnd(36),
      fmt(row.demand).padStart(9),
      fmt(row.capacity).padStart(9),
      `${fmt(row.headroom)}x`.padStart(9) + mark,
    );
  }
  console.log(`\nfirst bottleneck: ${bottleneck.component} (${fmt(bottleneck.headroom)}x headroom)`);
  if (bottleneck.headroom < 2) console.log(`next step: ${bottleneck.step}`);
  console.log(
    `audit log + feed at ${fmt(v.commands)} commands/s: ${fmt(logBytesPerDay / 1e9)} GB a day, ` +
      `${fmt(logDatabasesPerMonth)} D1 databases' worth a month${v["audit-in-d1"] ? "" : " (moved out: --audit-in-d1 0)"}`,
  );
  const overridden = Object.keys(limitFlags).filter((name) => values[name] !== limitFlags[name].default);
  console.log(
    `measured limits: bench:capacity ${measured.date} (commit ${measured.commit}, load ${measured.load_avg.before[0]}` +
      `–${measured.load_avg.after[0]})${overridden.length ? `; overridden: ${overridden.join(", ")}` : ""}`,
  );
}
