#!/usr/bin/env node
// wrangler.toml's environments (`[env.sharded]`) inherit no vars and no bindings, so each repeats
// them, and a copy drifts unseen: a threshold changed at the top and not in the copy, a binding
// forgotten. This compares every environment with the top level, as wrangler resolves them:
//   1. the same [vars], except the layout's EVENT_QUEUES, READ_DATABASES, READ_DATABASES_PREVIOUS
//      and DIRECTORY_SHARDS (docs/decisions/0026, 0027);
//   2. the same Durable Objects, rate limits, mail and analytics bindings;
//   3. the layout holds: each EVENT_QUEUES name is a queue producer, each produced queue has a
//      consumer with the top level's settings and a dead-letter queue (named `…-dlq`, which is how
//      the consumer tells them apart) that has a consumer; each READ_DATABASES and
//      READ_DATABASES_PREVIOUS name and DB is a D1 binding with the one migrations folder.
// Each problem is printed as env: what is wrong; any problem exits 1.
import { isDeepStrictEqual } from "node:util";
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";

const CONFIG = "wrangler.toml";
const LAYOUT_VARS = ["EVENT_QUEUES", "READ_DATABASES", "READ_DATABASES_PREVIOUS", "DIRECTORY_SHARDS"];
const SAME_BINDINGS = [
  ["durable_objects", (c) => c.durable_objects.bindings],
  ["ratelimits", (c) => c.ratelimits],
  ["send_email", (c) => c.send_email],
  ["analytics_engine_datasets", (c) => c.analytics_engine_datasets],
];

const read = (env) => unstable_readConfig({ config: CONFIG, env }, { hideWarnings: true });
const top = read(undefined);
const problems = [];
const problem = (where, message) => problems.push(`${CONFIG} ${where}: ${message}`);

const withoutLayout = (vars) =>
  Object.fromEntries(Object.entries(vars).filter(([name]) => !LAYOUT_VARS.includes(name)));
const names = (list, fallback) =>
  String(list ?? fallback)
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
/** A consumer's settings other than which queue it reads and where its failures go. */
const settings = ({ queue: _queue, dead_letter_queue: _dlq, ...rest }) => rest;

/** The top level's events consumer: the one whose queue a producer of the layout sends to. */
function eventsConsumer(config) {
  const queue = config.queues.producers?.find((p) => p.binding === names(config.vars.EVENT_QUEUES, "EVENTS")[0])?.queue;
  return config.queues.consumers?.find((c) => c.queue === queue);
}

function checkLayout(where, config, reference) {
  const producers = new Map((config.queues.producers ?? []).map((p) => [p.binding, p.queue]));
  const consumers = new Map((config.queues.consumers ?? []).map((c) => [c.queue, c]));
  for (const binding of names(config.vars.EVENT_QUEUES, "EVENTS")) {
    const queue = producers.get(binding);
    if (!queue) {
      problem(where, `EVENT_QUEUES names ${binding}, which is no [[queues.producers]] binding`);
      continue;
    }
    const consumer = consumers.get(queue);
    if (!consumer) {
      problem(where, `queue ${queue} (${binding}) has no [[queues.consumers]]: its events would never be projected`);
      continue;
    }
    if (reference && !isDeepStrictEqual(settings(consumer), settings(reference))) {
      problem(
        where,
        `the consumer of ${queue} differs from the top level's events consumer: ${JSON.stringify(settings(consumer))}`,
      );
    }
    const dlq = consumer.dead_letter_queue;
    if (!dlq) problem(where, `the consumer of ${queue} has no dead_letter_queue`);
    else if (!dlq.endsWith("-dlq")) problem(where, `dead-letter queue ${dlq} must end in -dlq (src/read/consumer.ts)`);
    else if (!consumers.has(dlq)) problem(where, `dead-letter queue ${dlq} has no [[queues.consumers]]`);
  }
  const databases = new Map(config.d1_databases.map((d) => [d.binding, d]));
  // The layout being left (a re-shard under way) is read and emptied by the rebuild: bound too.
  const read = [...names(config.vars.READ_DATABASES, "DB"), ...names(config.vars.READ_DATABASES_PREVIOUS, "")];
  for (const binding of new Set(["DB", ...read])) {
    const db = databases.get(binding);
    if (!db)
      problem(where, `${binding} is no [[d1_databases]] binding (READ_DATABASES, READ_DATABASES_PREVIOUS or DB)`);
    else if (db.migrations_dir !== "migrations") problem(where, `${binding}'s migrations_dir is not "migrations"`);
  }
  // Two bindings of one database would make a move between them a delete of what was just written
  // (the rebuild and the consumer remove a user's rows from the database it left).
  const seen = new Map();
  for (const binding of new Set(["DB", ...read])) {
    const db = databases.get(binding);
    const name = db?.database_id ?? db?.database_name;
    if (name && seen.has(name)) problem(where, `${binding} and ${seen.get(name)} are one database (${name})`);
    else if (name) seen.set(name, binding);
  }
}

checkLayout("top level", top, undefined);
const reference = eventsConsumer(top);
for (const env of Object.keys(experimental_readRawConfig({ config: CONFIG }).rawConfig.env ?? {})) {
  const config = read(env);
  const where = `[env.${env}]`;
  const [mine, theirs] = [withoutLayout(config.vars), withoutLayout(top.vars)];
  for (const name of new Set([...Object.keys(mine), ...Object.keys(theirs)])) {
    if (!(name in mine)) problem(where, `var ${name} is missing (envs do not inherit [vars])`);
    else if (!(name in theirs)) problem(where, `var ${name} is not in the top level's [vars]`);
    else if (mine[name] !== theirs[name])
      problem(where, `var ${name} = ${JSON.stringify(mine[name])}, the top level has ${JSON.stringify(theirs[name])}`);
  }
  for (const [kind, of] of SAME_BINDINGS) {
    if (!isDeepStrictEqual(of(config), of(top)))
      problem(where, `its ${kind} are not the top level's (envs do not inherit bindings)`);
  }
  checkLayout(where, config, reference);
}

for (const line of problems) console.error(line);
process.exit(problems.length > 0 ? 1 : 0);
