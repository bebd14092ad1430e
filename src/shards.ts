import { z } from "zod";

/**
 * Where a user's data goes when the service runs on more than one queue and read database
 * (docs/decisions/0026-shards-as-configuration.md). The counts are configuration: `[vars]` name the
 * bindings, in order, and one function (`shardOf`) picks a user's queue and read database alike.
 * The default (one queue `EVENTS`, the read model in `DB`) is a layout of one shard of each.
 */

const ENCODER = new TextEncoder();

/**
 * The shard of a key: FNV-1a (32 bits) of its UTF-8 bytes, modulo the count. Stable across
 * releases: the identity registry finds a claim where this put it (docs/decisions/0023), and a read
 * database holds a user's row where this put it until a re-shard moves it.
 */
export function shardOf(key: string, count: number): number {
  // One shard (the default layout's read database and queue): every get and command asks, so no hash.
  if (count === 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of ENCODER.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** A comma-separated list of binding names, in shard order, none twice (at least one unless `fallback` is ""). */
const bindingList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((list) =>
      list
        .split(",")
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, "not a binding name"))
        .min(fallback === "" ? 0 : 1, "names no binding")
        .max(256)
        .refine((names) => new Set(names).size === names.length, "names a binding twice"),
    );

const ShardConfigSchema = z.object({
  /** The queues a user's events go to (`shardOf(user id, N)`); each has a consumer (wrangler.toml). */
  EVENT_QUEUES: bindingList("EVENTS"),
  /**
   * The D1 databases of the per-user read model (`shardOf(user id, M)`): the users' rows and what
   * is kept per user (the ledger, checkpoints, intervals). `DB` keeps what is one for the service:
   * the audit log, the feed, subscriptions, refusals, dead letters, mail.
   */
  READ_DATABASES: bindingList("DB"),
  /**
   * During a re-shard (docs/decisions/0027), the `READ_DATABASES` being left; empty (the default)
   * when none is under way. A per-user read that misses in `READ_DATABASES` looks where this list
   * put the user, lists visit both, and the rebuild moves rows out of it.
   */
  READ_DATABASES_PREVIOUS: bindingList(""),
});

export interface Shards {
  queues: Queue[];
  databases: D1Database[];
  /** The read databases of the layout being left (`READ_DATABASES_PREVIOUS`): empty outside a re-shard. */
  previous: D1Database[];
}

/** Reads the layout and finds its bindings, or throws naming each variable or binding that is wrong. */
export function parseShards(env: Record<string, unknown>): Shards {
  const result = ShardConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join("; ")}`);
  }
  const missing: string[] = [];
  const bound = <T>(variable: string, name: string, looksRight: (value: unknown) => boolean): T => {
    const value = env[name];
    if (!looksRight(value)) missing.push(`${variable}: no binding ${name} of that kind (wrangler.toml)`);
    return value as T;
  };
  const queues = result.data.EVENT_QUEUES.map((name) =>
    bound<Queue>("EVENT_QUEUES", name, (v) => hasMethods(v, "send", "sendBatch")),
  );
  const isDatabase = (v: unknown) => hasMethods(v, "prepare", "batch");
  const databases = result.data.READ_DATABASES.map((name) => bound<D1Database>("READ_DATABASES", name, isDatabase));
  const previous = result.data.READ_DATABASES_PREVIOUS.map((name) =>
    bound<D1Database>("READ_DATABASES_PREVIOUS", name, isDatabase),
  );
  if (missing.length > 0) throw new Error(`Invalid configuration: ${missing.join("; ")}`);
  return { queues, databases, previous };
}

function hasMethods(value: unknown, ...names: string[]): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    names.every((name) => typeof (value as Record<string, unknown>)[name] === "function")
  );
}

const parsed = new WeakMap<object, Shards>();

/** This environment's layout, parsed on first use and then kept. */
export function shards(env: Env): Shards {
  let found = parsed.get(env);
  if (!found) {
    found = parseShards(env as unknown as Record<string, unknown>);
    parsed.set(env, found);
  }
  return found;
}

/** The queue a user's events are sent to. */
export function eventQueueOf(env: Env, userId: string): Queue {
  const { queues } = shards(env);
  return queues[shardOf(userId, queues.length)]!;
}

/** The read database holding a user's row (and ledger, checkpoints, intervals). */
export function readDatabaseOf(env: Env, userId: string): D1Database {
  const { databases } = shards(env);
  return databases[shardOf(userId, databases.length)]!;
}

/** Every read database, in shard order: where users are written, and what a count or a sweep visits. */
export function readDatabases(env: Env): D1Database[] {
  return shards(env).databases;
}

/**
 * Where the layout being left put the user, while a re-shard is under way and that is not where
 * it goes now (docs/decisions/0027); null otherwise. A per-user read that missed in the user's read
 * database looks here next; a user written to its new database leaves this one.
 */
export function previousReadDatabaseOf(env: Env, userId: string): D1Database | null {
  const { previous } = shards(env);
  if (previous.length === 0) return null;
  const before = previous[shardOf(userId, previous.length)]!;
  return before === readDatabaseOf(env, userId) ? null : before;
}

/**
 * What a list visits: every read database, and during a re-shard those of the layout being left
 * too (each once), since a user not moved yet is only there.
 */
export function listedReadDatabases(env: Env): D1Database[] {
  const { databases, previous } = shards(env);
  return [...new Set([...databases, ...previous])];
}

/**
 * During a re-shard, the databases a list asks once more after `listedReadDatabases` all answered
 * (the current layout's, bare: their primaries); none otherwise. The writers put a user in its new
 * database before removing it from its previous one, so a user gone from the previous one when that
 * answered is in the new one by this second look, even if the first look there came too early.
 */
export function readDatabasesAskedAgain(env: Env): D1Database[] {
  const { databases, previous } = shards(env);
  return previous.length > 0 ? databases : [];
}

/** Items grouped by the shard of their key among `count`, each group in the given order. */
export function groupByShard<T>(items: readonly T[], keyOf: (item: T) => string, count: number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const index = shardOf(keyOf(item), count);
    const group = groups.get(index) ?? [];
    group.push(item);
    groups.set(index, group);
  }
  return groups;
}

/** Users grouped by their read database, each group in the given order: one batch per database. */
export function byReadDatabase<T>(env: Env, items: readonly T[], userOf: (item: T) => string) {
  const { databases } = shards(env);
  return [...groupByShard(items, userOf, databases.length)].map(([index, grouped]) => ({
    db: databases[index]!,
    index,
    items: grouped,
  }));
}
