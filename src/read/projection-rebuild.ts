import { DurableObject } from "cloudflare:workers";
import { RebuildProgress } from "./rebuild-progress";
import { config } from "../config";
import { readDatabases } from "../shards";
import { recountTrigrams } from "./search-index";
import { listDirectory } from "../write/user-directory";
import { PROJECTIONS, projectionNamed, type Projection } from "./projections";
import { projectStreams, readUsers, removeMisplaced, scanRange, streamCalls, type RangeScan } from "./replay";

const RETRY_MS = 5_000;
/**
 * An alarm run's budget: at most about this many calls reading streams (a stream of up to 500
 * events is one, each a subrequest: an invocation has 10,000 on the paid plan, and D1's calls and
 * an erasure's re-read count too) and about this long (well within a run's 30 s of CPU, so a run
 * never ends mid-page on a limit).
 */
const RUN_CALLS = 2_000;
const RUN_MS = 10_000;

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

/** A page read and not yet written (`readPage`, then `commitPage`). */
interface Page {
  /** The cursor it was read after. */
  cursor: string;
  listed: number;
  total: number;
  last: string | null;
  finished: boolean;
  ghosts: string[];
  misplaced: RangeScan["misplaced"];
  streams: Awaited<ReturnType<typeof readUsers>>;
  /** The projection it was read for (null: all), which its write rebuilds. */
  projection: string | null;
}

function projectionsFor(projection: string | null): readonly Projection[] {
  return projection === null ? PROJECTIONS : [projectionNamed(projection)!];
}

/**
 * The full rebuild of the read model from every user stream, as a resumable job: steps of a page of
 * users each, several per alarm run (`alarm`), the cursor (the last user id done) saved with each
 * step. An interruption or a failing step only delays the next alarm; the job goes on from its
 * cursor. Rows are upserted in place, so the read API keeps answering during a rebuild, and no side
 * effect is fired.
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

  /**
   * Steps back to back, each page's streams read while the page before it commits (a pipeline of
   * two pages: the reads, which the idle-object floor also does, no longer stop for a step's D1
   * batch and alarm hop), until the job is done or the run's budget is spent; then the next alarm.
   * The guarantees are a lone step's: a page's cursor is saved only after its own D1 writes and
   * those of every page before it committed, since writes run one page after the other; reading
   * ahead writes nothing (directory, range scan, streams, erasure ledger), so a read thrown away
   * by a failure leaves nothing behind; a failure anywhere stops the run with the cursor at the
   * end of the last committed page, and the retry alarm reads on from there; a restart (a new
   * `started_at`) makes the cursor's save match no row, which ends the run: the new job's alarm
   * is already set. Pages are disjoint id ranges, so a page read while the one before it is
   * written meets none of its rows.
   */
  override async alarm(): Promise<void> {
    const job = this.job();
    if (job?.status !== "running") return;
    const perStep = config(this.env).REBUILD_USERS_PER_STEP;
    const ends = Date.now() + RUN_MS;
    let calls = 0;
    let reading = this.readPage(job.cursor, perStep);
    try {
      for (;;) {
        const page = await reading;
        calls += streamCalls(page.streams.read);
        const more = !page.finished && calls + perStep <= RUN_CALLS && Date.now() < ends;
        if (more) {
          reading = this.readPage(page.last!, perStep);
          // Seen when awaited; until then a failure of the write below must not leave it unhandled.
          reading.catch(() => undefined);
        }
        if (!(await this.commitPage(job, page)) || page.finished) return;
        if (!more) break;
      }
      await this.ctx.storage.setAlarm(Date.now());
    } catch (error) {
      // The page read ahead, if any, is dropped unread: the retry reads it again.
      await Promise.allSettled([reading]);
      await this.failed(job, error);
    }
  }

  /**
   * One step of the running job: a page of the directory and its ghosts rebuilt in one D1 batch,
   * then the cursor saved. Returns the users it covered; null when there is no running job, it is
   * done, or the step failed (then the next alarm retries it).
   */
  async step(): Promise<number | null> {
    const job = this.job();
    if (job?.status !== "running") return null;
    try {
      const page = await this.readPage(job.cursor, config(this.env).REBUILD_USERS_PER_STEP);
      await this.commitPage(job, page);
      return page.finished ? null : page.streams.read.length;
    } catch (error) {
      await this.failed(job, error);
      return null;
    }
  }

  /**
   * The read half of a step, which writes nothing: the directory's page after `cursor`, the ghosts
   * and misplaced rows in its id range, and the streams of its users and ghosts.
   */
  private async readPage(cursor: string, perStep: number): Promise<Page> {
    const { projection } = this.scope();
    const projections = projectionsFor(projection);
    const page = await listDirectory(this.env, cursor, perStep);
    const finished = page.ids.length < perStep;
    // Rows of users the directory does not list, in the id range this step covers (the last step
    // covers everything after it): rows without a stream, which a rebuild must not keep.
    const last = page.ids[page.ids.length - 1] ?? null;
    const range = { after: cursor, upTo: finished ? null : last };
    const { ghosts, misplaced } = await scanRange(this.env, projections, range, new Set(page.ids));
    // Listed users and ghosts in one batch: a ghost's empty stream removes its rows.
    const streams = await readUsers(this.env, [...page.ids, ...ghosts]);
    return {
      cursor,
      listed: page.ids.length,
      total: page.total,
      last,
      finished,
      ghosts,
      misplaced,
      streams,
      projection,
    };
  }

  /**
   * The write half: the page's rows in D1, then its cursor saved. False when a restart started a
   * new job meanwhile (nothing of this job's is saved then).
   */
  private async commitPage(job: Job, page: Page): Promise<boolean> {
    const { projection } = page;
    const projections = projectionsFor(projection);
    const { read, erased } = page.streams;
    const done = await projectStreams(this.env, read, projections, { erased });
    // Then the rows a re-shard left in a read database that is no longer their user's: only once
    // the user is in its own, so that a read looking in both (decision 0027) always finds it.
    await removeMisplaced(this.env, projections, page.misplaced);
    const saved = this.sql.exec(
      `UPDATE job SET cursor = ?, users_done = users_done + ?, users_total = ?, events = events + ?,
         status = ?, finished_at = ?, last_error = NULL WHERE id = 1 AND started_at = ?`,
      page.last ?? page.cursor,
      page.listed,
      page.total,
      done.events,
      page.finished ? "done" : "running",
      page.finished ? Date.now() : null,
      // A restart while this step ran started a new job: this step's result is not its.
      job.started_at,
    ).rowsWritten;
    // Counted for this job only: a restart's new job counts its own.
    if (saved > 0 && page.ghosts.length > 0) {
      this.sql.exec("UPDATE scope SET ghosts = ghosts + ? WHERE id = 1", page.ghosts.length);
    }
    if (page.finished && projection === null) await recountTrigrams(readDatabases(this.env));
    return saved > 0;
  }

  private async failed(job: Job, error: unknown): Promise<void> {
    this.sql.exec("UPDATE job SET last_error = ? WHERE id = 1 AND started_at = ?", String(error), job.started_at);
    await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
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
