import type { PublicEvent } from "../../domain/events";
import { readDatabaseOf } from "../../shards";
import { auditProjection } from "./audit";
import { feedProjection } from "./feed";
import { intervalsProjection } from "./intervals";
import { usersProjection } from "./users";

/** Where a projection stands for one user: its last revision and whatever state it folds. */
export interface Checkpoint<S> {
  revision: number;
  state: S;
}

export interface Load<S> {
  statement: D1PreparedStatement;
  read(result: D1Result): Map<string, Checkpoint<S>>;
}

/** The D1 writes that bring one projection of one user forward, and what follows once they commit. */
export interface Step {
  statements: D1PreparedStatement[];
  /**
   * Index of the statement that only applies if the checkpoint is still the one planned from: no
   * change there means a concurrent consumer moved first, and the user's messages are retried.
   */
  guard: number | null;
  /** Side effects after the commit, given the batch's results for `statements`. */
  afterCommit?(results: D1Result[]): Promise<void>;
  /**
   * Writes in `DB` that follow from this step whatever database the projection lives in (an
   * erasure's clean-up of sent mail and dead letters), unguarded and idempotent.
   */
  service?: D1PreparedStatement[];
}

/**
 * Where a projection's rows and checkpoints live (decision 0026): `user`, the user's read database
 * (`readDatabaseOf`); `service`, `DB`, one for the whole service.
 */
export type Home = "user" | "service";

/** A user's whole stream as a rebuild read it. */
export interface UserStreamRead {
  userId: string;
  events: PublicEvent[];
}

export interface Projection<S = unknown> {
  name: string;
  home: Home;
  /** A scalar SQL expression: this projection's checkpoint of the user `user` (an SQL expression), NULL if none. */
  checkpointSql(user: string): string;
  /**
   * One statement reading these users' checkpoints (for the batch that reads every projection's
   * at once), and how to read its result.
   */
  load(db: D1Database, userIds: readonly string[]): Load<S>;
  /**
   * The step for `events`, the user's events right after `from` in order (never empty). `delivered`
   * are the messages' own events (duplicates included), for side effects decided by the row as it
   * ends up rather than by what was applied here.
   */
  plan(
    db: D1Database,
    userId: string,
    from: Checkpoint<S> | undefined,
    events: PublicEvent[],
    context: { delivered: PublicEvent[]; service: D1Database },
  ): Step;
  /**
   * Statements that make each user's part equal to its whole stream (empty: no stream, a ghost),
   * moving rows only forward, for any number of users in a few statements (`bulk`).
   */
  rebuild(db: D1Database, streams: readonly UserStreamRead[]): D1PreparedStatement[];
  /** What a rebuild of these streams writes in `DB` (`service`) besides `rebuild`'s own statements. */
  rebuildService?(service: D1Database, streams: readonly UserStreamRead[]): D1PreparedStatement[];
  /** The users with rows in this projection whose ids are in (`after`, `upTo`] (`upTo` null: no bound). */
  userIdsBetween(db: D1Database, after: string, upTo: string | null): Promise<string[]>;
}

/** Every projection the consumer feeds, in the order their writes go into a batch. */
export const PROJECTIONS: readonly Projection[] = [
  usersProjection,
  auditProjection,
  intervalsProjection,
  feedProjection,
];

/** The database holding this projection's rows and checkpoint of the user. */
export function databaseOf(env: Env, projection: Projection, userId: string): D1Database {
  return projection.home === "user" ? readDatabaseOf(env, userId) : env.DB;
}

/** The projections living in `db` for the user (`db` one of that user's databases). */
export function projectionsIn(env: Env, db: D1Database, userId: string, projections = PROJECTIONS): Projection[] {
  return projections.filter((projection) => databaseOf(env, projection, userId) === db);
}

export function projectionNamed(name: string): Projection | undefined {
  return PROJECTIONS.find((projection) => projection.name === name);
}

export const PROJECTION_NAMES = PROJECTIONS.map((projection) => projection.name);
