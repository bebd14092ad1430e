import { DurableObject } from "cloudflare:workers";
import { RebuildProgress } from "./rebuild-progress";
import { config } from "../config";
import { readDatabases } from "../shards";
import { recountTrigrams } from "./search-index";
import { listDirectory } from "../write/user-directory";
import { PROJECTIONS, projectionNamed } from "./projections";
import { rebuildUsers, removeMisplaced, scanRange } from "./replay";

const RETRY_MS = 5_000;

interface Job extends Record<string, SqlStorageValue> {
  status: "running" | "done";
  cursor: string;
  users_done: number;
  users_total: number;
  events: number;
  started_at: number;
  finished_at: number | null;
  last_error: string | null;
}

/**
 * The full rebuild of the read model from every user stream, as a resumable job: one step per alarm,
 * the cursor (the last user id done) saved with each step. An interruption or a failing step only
 * delays the next alarm; the job goes on from its cursor. Rows are upserted in place, so the read
 * API keeps answering during a rebuild, and no side effect is fired.
 */
export class ProjectionRebuild extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS scope (
      id INTEGER PRIMARY KEY CHECK (id = 1), projection TEXT, ghosts INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS job (
      id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, cursor TEXT NOT NULL,
      users_done INTEGER NOT NULL, users_total INTEGER NOT NULL, events INTEGER NOT NULL,
      started_at INTEGER NOT NULL, finished_at INTEGER, last_error TEXT)`);
  }

  /**
   * Starts a rebuild of one projection (or of all: null), or resumes the running one unless
   * `restart` asks for a fresh start. Each projection's rebuild is its own object (`rebuildJob`).
   */
  async start(restart: boolean, projection: string | null): Promise<RebuildProgress> {
    const job = this.job();
    if (!job || job.status === "done" || restart) {
      this.sql.exec("INSERT OR REPLACE INTO scope (id, projection, ghosts) VALUES (1, ?, 0)", projection);
      this.sql.exec(
        `INSERT OR REPLACE INTO job (id, status, cursor, users_done, users_total, events, started_at, finished_at, last_error)
         VALUES (1, 'running', '', 0, 0, 0, ?, NULL, NULL)`,
        Date.now(),
      );
    }
    await this.ctx.storage.setAlarm(Date.now());
    return this.progress();
  }

  progress(): RebuildProgress {
    const job = this.job();
    const scope = this.scope();
    if (!job) {
      return {
        projection: scope.projection,
        ghosts_removed: 0,
        status: "idle",
        users_done: 0,
        users_total: 0,
        events: 0,
        events_per_second: null,
        started_at: null,
        finished_at: null,
        last_error: null,
      };
    }
    const seconds = ((job.finished_at ?? Date.now()) - job.started_at) / 1000;
    return {
      projection: scope.projection,
      ghosts_removed: scope.ghosts,
      status: job.status,
      users_done: job.users_done,
      users_total: job.users_total,
      events: job.events,
      events_per_second: seconds > 0 ? Math.round(job.events / seconds) : null,
      started_at: new Date(job.started_at).toISOString(),
      finished_at: job.finished_at ? new Date(job.finished_at).toISOString() : null,
      last_error: job.last_error,
    };
  }

  override async alarm(): Promise<void> {
    // One step per alarm: looping steps within one alarm measured slower at 1,000 users (482 events/s
    // on awake objects, against 1,946 for one step per alarm; BENCHMARKS.md), cause not isolated.
    if ((await this.step()) !== null) await this.ctx.storage.setAlarm(Date.now());
  }

  /**
   * One step of the running job: a page of the directory and its ghosts rebuilt in one D1 batch,
   * then the cursor saved. Returns the users it covered; null when there is no running job, it is
   * done, or the step failed (then the next alarm retries it).
   */
  async step(): Promise<number | null> {
    const job = this.job();
    if (job?.status !== "running") return null;
    const perStep = config(this.env).REBUILD_USERS_PER_STEP;
    try {
      const { projection } = this.scope();
      const projections = projection === null ? PROJECTIONS : [projectionNamed(projection)!];
      const page = await listDirectory(this.env, job.cursor, perStep);
      const finished = page.ids.length < perStep;
      // Rows of users the directory does not list, in the id range this step covered (the last
      // step covers everything after it): rows without a stream, which a rebuild must not keep.
      const last = page.ids[page.ids.length - 1] ?? null;
      const range = { after: job.cursor, upTo: finished ? null : last };
      const { ghosts, misplaced } = await scanRange(this.env, projections, range, new Set(page.ids));
      // Listed users and ghosts in one batch: a ghost's empty stream removes its rows.
      const done = await rebuildUsers(this.env, [...page.ids, ...ghosts], projections);
      // Then the rows a re-shard left in a read database that is no longer their user's: only once
      // the user is in its own, so that a read looking in both (decision 0027) always finds it.
      await removeMisplaced(this.env, projections, misplaced);
      if (ghosts.length > 0) this.sql.exec("UPDATE scope SET ghosts = ghosts + ? WHERE id = 1", ghosts.length);
      this.sql.exec(
        `UPDATE job SET cursor = ?, users_done = users_done + ?, users_total = ?, events = events + ?,
           status = ?, finished_at = ?, last_error = NULL WHERE id = 1 AND started_at = ?`,
        last ?? job.cursor,
        page.ids.length,
        page.total,
        done.events,
        finished ? "done" : "running",
        finished ? Date.now() : null,
        // A restart while this step ran started a new job: this step's result is not its.
        job.started_at,
      );
      if (finished && projection === null) await recountTrigrams(readDatabases(this.env));
      return finished ? null : page.ids.length + ghosts.length;
    } catch (error) {
      this.sql.exec("UPDATE job SET last_error = ? WHERE id = 1 AND started_at = ?", String(error), job.started_at);
      await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
      return null;
    }
  }

  private scope(): { projection: string | null; ghosts: number } {
    const row = this.sql
      .exec<{ projection: string | null; ghosts: number }>("SELECT * FROM scope WHERE id = 1")
      .toArray()[0];
    return row ?? { projection: null, ghosts: 0 };
  }

  private job(): Job | undefined {
    return this.sql.exec<Job>("SELECT * FROM job WHERE id = 1").toArray()[0];
  }
}

export const REBUILD_NAME = "read-model";

/** The rebuild job of one projection, or of all of them (null). */
export function rebuildJob(env: Env, projection: string | null) {
  return env.PROJECTION_REBUILD.getByName(projection === null ? REBUILD_NAME : `${REBUILD_NAME}:${projection}`);
}
