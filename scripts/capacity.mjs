#!/usr/bin/env node
// Capacity model: given a workload, prints each component's demand against its limit, its headroom
// and the first bottleneck. The limits are Cloudflare's published ones (SCALING.md cites each) or
// our local measurements where the platform publishes none; every one can be overridden by a flag.
//
//   npm run capacity -- --users 1e6 --commands 1e3 --reads 5e3 --events-per-user 20
//   npm run capacity -- --users 1e8 --commands 1e5 --queues 32 --read-dbs 64 --json
import { parseArgs } from "node:util";

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
  queues: { default: "1", help: "event queues, users sharded across them by id hash" },
  "read-dbs": { default: "1", help: "D1 read-model databases, users sharded by id hash" },
  "read-replicas": { default: "0", help: "D1 read replicas per database (Sessions API)" },
  "audit-in-d1": { default: "1", help: "1: the audit log lives in the read-model D1; 0: moved out" },
  "directory-shards": { default: "1", help: "UserDirectory objects, users sharded by id prefix" },
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
  "d1-row-writes": {
    default: "16000",
    help: "rows/s one D1 database writes in batches",
    source: "measured locally: ~16k rows/s, batches of 100",
  },
  "d1-read-ms": { default: "0.5", help: "serial D1 time of one get (ms)", source: "assumed: indexed point read" },
  "d1-list-ms": {
    default: "3",
    help: "serial D1 time of one list page + count (ms)",
    source: "assumed: page + COUNT over an index",
  },
  "d1-bytes": { default: "10e9", help: "size limit of one D1 database", source: "published: 10 GB" },
  "user-row-bytes": {
    default: "600",
    help: "bytes of one users row with its indexes",
    source: "estimate from the schema",
  },
  "audit-row-bytes": {
    default: "400",
    help: "bytes of one audit row with its indexes",
    source: "estimate from the schema",
  },
  "event-bytes": {
    default: "700",
    help: "bytes of one stored event (row, outbox, indexes)",
    source: "estimate from the schema",
  },
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
  const auditRowsPerEvent = v["audit-in-d1"] ? 1 : 0;
  const rowsPerEvent = 1 + auditRowsPerEvent; // the user's row, plus its audit row
  const readDbs = v["read-dbs"];
  const listReads = v.reads * v["list-share"];
  const getReads = v.reads - listReads;
  // A list is answered by every shard (scatter-gather); a get by the one holding the user.
  const readMsPerDbPerSecond = (getReads / readDbs) * v["d1-read-ms"] + listReads * v["d1-list-ms"];
  const readCopies = 1 + v["read-replicas"];
  const d1Bytes =
    (v.users * (v["user-row-bytes"] + auditRowsPerEvent * v["events-per-user"] * v["audit-row-bytes"])) / readDbs;
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
      unit: "creates/s",
      demand: (v.commands * v["creates-share"]) / v["directory-shards"],
      capacity: v["object-writes"],
      step: "shard the directory by user-id prefix (--directory-shards)",
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
      demand: (eventsPerSecond * rowsPerEvent) / readDbs,
      capacity: v["d1-row-writes"],
      step: "shard the read model by user-id hash (--read-dbs); move the audit log out (--audit-in-d1 0)",
    },
    {
      component: "read-model D1 reads",
      unit: "ms of D1 time per s, per copy",
      demand: readMsPerDbPerSecond / readCopies,
      // Writes take their share of the same serial database first.
      capacity: Math.max(0, 1000 * (1 - Math.min(1, (eventsPerSecond * rowsPerEvent) / readDbs / v["d1-row-writes"]))),
      step: "read replicas through the Sessions API (--read-replicas); lists from a search index past a few shards",
    },
    {
      component: "read-model D1 size",
      unit: "bytes per database",
      demand: d1Bytes,
      capacity: v["d1-bytes"],
      step: "shard by user-id hash (--read-dbs); move the audit log out (--audit-in-d1 0)",
    },
  ].map((row) => ({ ...row, headroom: row.demand === 0 ? Infinity : row.capacity / row.demand }));
}

const rows = model(Object.fromEntries(Object.keys(all).map((name) => [name, n(name)])));
const bottleneck = [...rows].sort((a, b) => a.headroom - b.headroom)[0];

if (values.json) {
  console.log(JSON.stringify({ rows, first_bottleneck: bottleneck.component }));
} else {
  const fmt = (x) =>
    x === Infinity ? "∞" : x >= 1e4 || (x > 0 && x < 0.01) ? x.toExponential(1) : String(Math.round(x * 100) / 100);
  console.log(
    "component".padEnd(34),
    "unit".padEnd(30),
    "demand".padStart(9),
    "capacity".padStart(9),
    "headroom".padStart(9),
  );
  for (const row of rows) {
    const mark = row.headroom < 1 ? "  OVER" : row.headroom < 2 ? "  tight" : "";
    console.log(
      row.component.padEnd(34),
      row.unit.padEnd(30),
      fmt(row.demand).padStart(9),
      fmt(row.capacity).padStart(9),
      `${fmt(row.headroom)}x`.padStart(9) + mark,
    );
  }
  console.log(`\nfirst bottleneck: ${bottleneck.component} (${fmt(bottleneck.headroom)}x headroom)`);
  if (bottleneck.headroom < 2) console.log(`next step: ${bottleneck.step}`);
}
