import { inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { DIRECTORY_NAME } from "../write/user-directory";
import { openDeadLetters } from "./dead-letters";
import { users } from "./schema";

const PAGE = 90;

/**
 * Lag of the read model, measured against the write side: every user's object is asked for its
 * revision and outbox, and compared with the user's row in D1. `limit` bounds the scan.
 */
export async function projectionStatus(env: Env, limit: number) {
  const directory = env.USER_DIRECTORY.getByName(DIRECTORY_NAME);
  let after = "";
  let scanned = 0;
  let usersBehind = 0;
  let backlog = 0;
  let oldest: number | null = null;
  let total = 0;
  while (scanned < limit) {
    const page = await directory.list(after, Math.min(PAGE, limit - scanned));
    total = page.total;
    if (page.ids.length === 0) break;
    const [states, rows] = await Promise.all([
      Promise.all(page.ids.map((id) => env.USER_STREAM.getByName(id).status())),
      drizzle(env.DB).select({ id: users.id, revision: users.revision }).from(users).where(inArray(users.id, page.ids)),
    ]);
    const projected = new Map(rows.map((row) => [row.id, row.revision]));
    page.ids.forEach((id, i) => {
      const state = states[i]!;
      if ((projected.get(id) ?? 0) < state.revision) usersBehind += 1;
      backlog += state.outboxSize;
      if (state.oldestOutboxAt !== null) oldest = Math.min(oldest ?? state.oldestOutboxAt, state.oldestOutboxAt);
    });
    scanned += page.ids.length;
    after = page.ids[page.ids.length - 1]!;
  }
  return {
    users_total: total,
    users_scanned: scanned,
    users_behind: usersBehind,
    outbox: { backlog, oldest_age_ms: oldest === null ? null : Math.max(0, Date.now() - oldest) },
    dead_letters: [...(await openDeadLetters(env.DB)).values()].reduce((a, b) => a + b, 0),
  };
}
