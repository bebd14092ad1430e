import { log } from "../observability";

/** The UTC hour whose first cron run merges the search index: once a day. */
export const SEARCH_INDEX_MERGE_HOUR = 3;

/**
 * A trigram found in fewer users than this is not counted (migration 0016 and bench/list-scale.mjs
 * use the same bound): its posting list is a fraction of a page, as cheap to read as to look up,
 * and a search treats every uncounted trigram as rarer than any counted one.
 */
export const COUNTED_TRIGRAM_USERS = 32;

/**
 * Recounts the users holding each common trigram (`search_trigram_counts`, by which a search picks
 * its needle's rarest trigrams: docs/decisions/0028). The count walks every posting list of the
 * index, about as long as a merge; one batch, so a search sees the old counts or the new.
 */
export function countTrigramsStatements(db: D1Database): D1PreparedStatement[] {
  return [
    db.prepare("DELETE FROM search_trigram_counts"),
    db.prepare(
      `INSERT INTO search_trigram_counts (col, trigram, docs)
        SELECT col, term, doc FROM users_search_terms WHERE doc >= ${COUNTED_TRIGRAM_USERS}`,
    ),
  ];
}

/**
 * Rewrites the search index (`users_search`, FTS5) into one segment, then recounts its trigrams. A
 * deleted or rewritten users row (an erasure's `[erased]` tombstone among them) only marks its old
 * entry deleted: the trigrams of the old username and email stay in the index's pages,
 * unsearchable, until a merge drops them (and counted, until the recount after it). Cost grows with
 * the index (about 3 s of D1 at 1,000,000 users, SCALING.md), so the cron runs it once a day
 * rather than after each erasure.
 */
export async function mergeSearchIndex(db: D1Database): Promise<void> {
  // Apart: a recount that fails (its statement runs about as long as the merge) must not roll back
  // the merge, which is what purges an erased user's trigrams from the index's pages.
  await db.prepare("INSERT INTO users_search (users_search) VALUES ('optimize')").run();
  await db.batch(countTrigramsStatements(db));
}

/**
 * The counts of every read database refilled now, best effort (the day's merge refills them
 * anyway): after a full rebuild, since a re-shard's new databases start with none, and a search
 * there would read its needle's every trigram until the next merge.
 */
export async function recountTrigrams(databases: readonly D1Database[]): Promise<void> {
  const results = await Promise.allSettled(databases.map((db) => db.batch(countTrigramsStatements(db))));
  const failed = results.filter((result) => result.status === "rejected");
  if (failed.length > 0) {
    log("warn", "search-index: trigram recount after the rebuild failed; the day's merge recounts", {
      databases: failed.length,
      error: String(failed[0]!.reason),
    });
  }
}

/** Whether the cron run scheduled at `scheduledTime` (crons run every 5 minutes) is the day's merge. */
export function isSearchIndexMergeRun(scheduledTime: number): boolean {
  const at = new Date(scheduledTime);
  return at.getUTCHours() === SEARCH_INDEX_MERGE_HOUR && at.getUTCMinutes() < 5;
}

/**
 * The cron's step: the day's merge of every read database's index (each holds its users' rows,
 * docs/decisions/0026), or nothing. Each database merges on its own, at once; one that fails
 * leaves the others merged, and the step then fails with its error.
 */
export async function maybeMergeSearchIndex(databases: readonly D1Database[], scheduledTime: number): Promise<void> {
  if (!isSearchIndexMergeRun(scheduledTime)) return;
  const merged = await Promise.allSettled(databases.map((db) => mergeSearchIndex(db)));
  const failed = merged.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
}
