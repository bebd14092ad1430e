import type { WatchTarget } from "./protocol";
import { userStream } from "../objects";

/** The object behind a place a user watches: another user's stream, or the admin feed. */
function objectOf(env: Env, target: WatchTarget) {
  const [kind, name] = target.split(/:(.*)/s) as ["user" | "feed", string];
  return kind === "user" ? userStream(env, name) : env.LIVE_FEED.getByName(name);
}

/**
 * Closes `watcher`'s sockets opened before `revokedAt` on every place it watches, as recorded in
 * its own object's `watching` table. Each place closes only older sockets, so a watch opened with
 * a fresh credential meanwhile survives. Returns whether every place answered.
 */
export async function revokeWatches(env: Env, sql: SqlStorage, watcher: string, revokedAt: number): Promise<boolean> {
  const targets = sql
    .exec<{ target: WatchTarget }>("SELECT target FROM watching")
    .toArray()
    .map((row) => row.target);
  const results = await Promise.allSettled(
    targets.map((target) => objectOf(env, target).revokeWatcher(watcher, revokedAt)),
  );
  return results.every((result) => result.status === "fulfilled");
}
