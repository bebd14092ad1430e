import { z } from "zod";

/** What `GET /admin/projections/rebuild` answers. */
export const RebuildProgress = z.object({
  // The projection rebuilt (null: all of them), and users with rows but no stream whose rows went away.
  projection: z.string().nullable(),
  status: z.enum(["idle", "running", "done"]),
  users_done: z.number().int(),
  users_total: z.number().int(),
  events: z.number().int(),
  events_per_second: z.number().nullable(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  last_error: z.string().nullable(),
  ghosts_removed: z.number().int(),
});
export type RebuildProgress = z.infer<typeof RebuildProgress>;
