import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { config } from "../config";
import { DIRECTORY_NAME } from "../write/user-directory";
import { rebuildRows } from "./replay";

const RETRY_MS = 5_000;

/** What `GET /admin/projections/rebuild` answers. */
export const RebuildProgress = z.object({
  status: z.enum(["idle", "running", "done"]),
  users_done: z.number().int(),
  users_total: z.number().int(),
  events: z.number().int(),
  events_per_second: z.number().nullable(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  last_error: z.string().nullable(),
});
export type RebuildProgress = z.infer<typeof RebuildProgress>;

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
    this.sql.exec(`CREATE TABLE IF NOT EXISTS job (
      id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, cursor TEXT NOT NULL,
      users_done INTEGER NOT NULL, users_total INTEGER NOT NULL, events INTEGER NOT NULL,
      started_at INTEGER NOT NULL, finished_at INTEGER, last_error TEXT)`);
  }

  /** Starts a rebuild, or resumes the running one unless `restart` asks for a fresh start. */
  async start(restart: boolean): Promise<RebuildProgress> {
    const job = this.job();
    if (!job || job.status === "done" || restart) {
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
    if (!job) {
      return {
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
    const job = this.job();
    if (job?.status !== "running") return;
    // Users per step: their streams are read in parallel and written in one D1 batch.
    const perStep = config(this.env).REBUILD_USERS_PER_STEP;
    try {
      const page = await this.env.USER_DIRECTORY.getByName(DIRECTORY_NAME).list(job.cursor, perStep);
      const done = await rebuildRows(this.env, page.ids);
      const finished = page.ids.length < perStep;
      this.sql.exec(
        `UPDATE job SET cursor = ?, users_done = users_done + ?, users_total = ?, events = events + ?,
           status = ?, finished_at = ?, last_error = NULL WHERE id = 1 AND started_at = ?`,
        page.ids[page.ids.length - 1] ?? job.cursor,
        done.users,
        page.total,
        done.events,
        finished ? "done" : "running",
        finished ? Date.now() : null,
        // A restart while this step ran started a new job: this step's result is not its.
        job.started_at,
      );
      if (!finished) await this.ctx.storage.setAlarm(Date.now());
    } catch (error) {
      this.sql.exec("UPDATE job SET last_error = ? WHERE id = 1 AND started_at = ?", String(error), job.started_at);
      await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
    }
  }

  private job(): Job | undefined {
    return this.sql.exec<Job>("SELECT * FROM job WHERE id = 1").toArray()[0];
  }
}

export const REBUILD_NAME = "read-model";
