/**
 * What a search asks the trigram index (`users_search`) for: not the needle's every trigram but
 * its rarest, by the counts the day's merge keeps (`search_trigram_counts`, docs/decisions/0028).
 *
 * FTS5 matches a phrase by stepping through the posting list of each of its trigrams. A trigram
 * most users share (`see` of every seeded `seed…`, `exa` of every `@example.com`) has a posting list
 * as long as the table, and those steps were what made a search grow with the users. The index
 * finds the users holding the needle's few rarest trigrams instead, and the caller checks each of
 * those candidates for the needle: the search's meaning, a substring, case-insensitive for ASCII
 * as LIKE is.
 */

/**
 * How many of a needle's rarest trigrams the index is asked for: the rarest often overlap (`534`,
 * `341`) and say little more together than one; 2, 3 and 4 measured alike (docs/decisions/0028).
 */
export const RAREST_TRIGRAMS = 3;

/** At most this many of a needle's trigrams are looked up, spread over it: enough to find rare ones in a long needle. */
const LOOKED_UP = 32;

/**
 * Whether a needle is ASCII. SQLite folds the case of ASCII letters only (LIKE, lower()), the index
 * folds every letter's: for an ASCII needle the two agree, another keeps the phrase (the index's own
 * folding, as before the counts).
 */
export function isAscii(text: string): boolean {
  return [...text].every((ch) => ch.codePointAt(0)! < 0x80);
}

/** A phrase of the index's query syntax in one column, its quotes doubled. */
function phrase(column: string, text: string): string {
  return `${column} : "${text.replaceAll('"', '""')}"`;
}

/** An ASCII needle's distinct trigrams in lower case (as the index folds them), at most `LOOKED_UP`. */
export function trigramsOf(needle: string): string[] {
  const text = needle.toLowerCase();
  const all = [...new Set(Array.from({ length: Math.max(0, text.length - 2) }, (_, i) => text.slice(i, i + 3)))];
  if (all.length <= LOOKED_UP) return all;
  return Array.from({ length: LOOKED_UP }, (_, j) => all[Math.round((j * (all.length - 1)) / (LOOKED_UP - 1))]!);
}

/**
 * The right side of `users_search MATCH` for needles of at least 3 characters (`[column, needle]`,
 * the column one of this code's names, never a caller's text), as SQL and its parameters. With
 * counts: per column, the `RAREST_TRIGRAMS` of the needle's trigrams found in the fewest users (one
 * not counted first: fewer than the bound), all required; a needle that is not ASCII stays one
 * phrase. The caller must then check the rows for every ASCII needle: the index found users holding
 * those trigrams anywhere in the column. Without counts (a database the merge has not run on yet):
 * every needle one phrase, as before the counts. Kept small: a bigger statement (one `json_each` for
 * all needles, a window per column) measured 20% slower to prepare and to run.
 */
export function rarestTrigramsMatch(needles: readonly [string, string][]): { sql: string; params: string[] } {
  const picks: string[] = [];
  const params: string[] = [];
  for (const [column, needle] of needles) {
    if (isAscii(needle)) {
      picks.push(`(SELECT group_concat('${column} : "' || replace(value, '"', '""') || '"', ' AND ')
        FROM (SELECT value FROM json_each(?) LEFT JOIN search_trigram_counts ON col = '${column}' AND trigram = value
          ORDER BY coalesce(docs, 0), key LIMIT ${RAREST_TRIGRAMS}))`);
      params.push(JSON.stringify(trigramsOf(needle)));
    } else {
      picks.push("?");
      params.push(phrase(column, needle));
    }
  }
  const whole = needles.map(([column, needle]) => phrase(column, needle)).join(" AND ");
  return {
    sql: `(SELECT CASE WHEN EXISTS (SELECT 1 FROM search_trigram_counts) THEN ${picks.join(" || ' AND ' || ")} ELSE ? END)`,
    params: [...params, whole],
  };
}
