import { and, getTableColumns, getTableName, gt, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { PublicEvent } from "../../domain/events";
import { bulk, changed, JSON_IDS } from "../bulk";
import { checkpointSqlOf, loadCheckpoints, moveCheckpointSql, moveCheckpointsSql, upToHeadSql } from "./checkpoints";
import type { Home, Projection, Step } from "./index";

/** What a fold makes of a user's events: rows to write, the checkpoint's state, whether to scrub. */
export interface Folded<Row, State> {
  rows: Row[];
  state: State | null;
  /** An erasure was folded: rows written earlier must read `[erased]` too. */
  scrub: boolean;
}

/**
 * A projection that writes rows per user into a table of its own (the audit log, the intervals)
 * and keeps its fold's state in `checkpoints`. Everything but the fold, the table and the scrub
 * is the same for such projections: the guarded live write, the rebuild that only moves forward,
 * the users it holds.
 */
export interface RowLog<Row extends Record<string, unknown>, State> {
  name: string;
  home: Home;
  table: SQLiteTable & { userId: SQLiteColumn };
  /** The table's conflict target (its primary key), SQL names. */
  key: readonly string[];
  /** The column that tells a user's rows apart (the rebuild keeps those its stream still makes). */
  keep: keyof Row & string;
  /** What the live write does with a row already there: keep it, or take the incoming values. */
  onLiveConflict: "keep" | "update";
  fold(state: State | null, events: readonly PublicEvent[]): Folded<Row, State>;
  /** One statement, the user's id bound as `?`: every earlier row of the user reads `[erased]`. */
  scrubSql: string;
}

export function rowLogProjection<Row extends Record<string, unknown>, State>(
  log: RowLog<Row, State>,
): Projection<State | null> {
  const { name, table } = log;
  const tableName = getTableName(table);
  // The table's columns (drizzle key → SQL name), so the statements cannot miss one.
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => ({ key, name: column.name }));
  const columnsOf = (row: Row) => Object.fromEntries(columns.map((c) => [c.name, row[c.key]]));
  const keepColumn = columns.find((c) => c.key === log.keep)!.name;

  const insertFromJson = `INSERT INTO ${tableName} (${columns.map((c) => c.name).join(", ")})
  SELECT ${columns.map((c) => `j.value ->> '$.${c.name}'`).join(", ")} FROM json_each(?1) j`;
  /** A row already there (a redelivery, a rebuild, an interval closed now) takes the incoming values. */
  const upsert = `ON CONFLICT (${log.key.join(", ")}) DO UPDATE SET ${columns
    .filter((c) => !log.key.includes(c.name))
    .map((c) => `${c.name} = excluded.${c.name}`)
    .join(", ")}
  WHERE ${changed(
    tableName,
    columns.map((c) => c.name),
  )}`;
  /** Live: the user's rows (`?1`), written only while its checkpoint (`?2`) is still the one planned from (`?3`). */
  const insertPlanned = `${insertFromJson}
  WHERE coalesce(${checkpointSqlOf(name, "?2")}, 0) = ?3
  ${log.onLiveConflict === "keep" ? `ON CONFLICT (${log.key.join(", ")}) DO NOTHING` : upsert}`;
  const moveCheckpoint = moveCheckpointSql(name);

  const upToHead = upToHeadSql(name);
  /**
   * Rebuild: each JSON row is a user with its `head` and the `keep` values of the rows its stream
   * makes; its other rows go. Driven by the users' ids and one set of the step's values, never by
   * a scan of the table joined to the JSON.
   */
  const deleteUpToHead = `DELETE FROM ${tableName}
  WHERE user_id IN (SELECT j.value ->> '$.user_id' FROM json_each(?1) j WHERE ${upToHead})
    AND (user_id, ${keepColumn}) NOT IN (SELECT j.value ->> '$.user_id', k.value FROM json_each(?1) j, json_each(j.value, '$.keep') k)`;
  /** Rows written, or rewritten where they differ from the stream's. */
  const upsertUpToHead = `${insertFromJson} WHERE ${upToHead}
  ${upsert}`;
  const moveCheckpoints = moveCheckpointsSql(name);

  return {
    name,
    home: log.home,
    checkpointSql: (user) => checkpointSqlOf(name, user),

    load: (db, userIds) => loadCheckpoints<State | null>(db, name, userIds),

    plan(db, userId, from, events) {
      const step: Step = { statements: [], guard: null };
      if (events.length === 0) return step;
      const at = from?.revision ?? 0;
      const { rows, state, scrub } = log.fold(from?.state ?? null, events);
      // Written only while the checkpoint is still `at`: a consumer that lost the race (say, to one
      // projecting an erasure) writes nothing.
      step.statements.push(...bulk(db, insertPlanned, rows.map(columnsOf), userId, at));
      if (scrub) step.statements.push(db.prepare(log.scrubSql).bind(userId));
      step.guard = step.statements.length;
      const newest = events[events.length - 1]!.revision;
      step.statements.push(db.prepare(moveCheckpoint).bind(userId, newest, JSON.stringify(state), at));
      return step;
    },

    rebuild(db, streams) {
      const gone: string[] = [];
      const heads: { user_id: string; head: number; keep: unknown[] }[] = [];
      const rows: Record<string, unknown>[] = [];
      const moves: { user_id: string; revision: number; state: string }[] = [];
      for (const { userId, events } of streams) {
        if (events.length === 0) {
          gone.push(userId);
          continue;
        }
        const head = events[events.length - 1]!.revision;
        const folded = log.fold(null, events);
        heads.push({ user_id: userId, head, keep: folded.rows.map((row) => row[log.keep]) });
        rows.push(...folded.rows.map((row) => ({ ...columnsOf(row), head })));
        moves.push({ user_id: userId, revision: head, state: JSON.stringify(folded.state) });
      }
      // Only forward: a user the live consumer already projected past this stream read is left alone.
      return [
        ...bulk(db, `DELETE FROM ${tableName} WHERE user_id IN ${JSON_IDS}`, gone),
        ...bulk(db, `DELETE FROM checkpoints WHERE projection = '${name}' AND user_id IN ${JSON_IDS}`, gone),
        ...bulk(db, deleteUpToHead, heads),
        ...bulk(db, upsertUpToHead, rows),
        ...bulk(db, moveCheckpoints, moves),
      ];
    },

    async userIdsBetween(db, after, upTo) {
      const rows = await drizzle(db)
        .selectDistinct({ id: table.userId })
        .from(table)
        .where(and(gt(table.userId, after), upTo === null ? undefined : lte(table.userId, upTo)));
      return rows.map((row) => row.id as string);
    },
  };
}
