import { useState } from "hono/jsx/dom";
import type { RebuildProgress } from "../admin-api";
import { api } from "../api";
import { ErrorNotice, Time } from "../components";
import type { Polled } from "./poll";

/**
 * The full rebuild of the read model (`POST /admin/projections/rebuild`, a resumable job on the
 * server) and its progress, polled with the rest of the page.
 */
export function Rebuild({
  progress,
  projections,
  onStarted,
}: {
  progress: Polled<RebuildProgress>;
  projections: string[];
  onStarted: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const job = progress.data;

  const start = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const query = new URLSearchParams({ restart: form.get("restart") ? "true" : "false" });
    const projection = form.get("projection");
    if (typeof projection === "string" && projection) query.set("projection", projection);
    setBusy(true);
    setError(null);
    try {
      await api<RebuildProgress>(`/admin/projections/rebuild?${query}`, { method: "POST" });
      onStarted();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const percent = job && job.users_total > 0 ? Math.floor((job.users_done / job.users_total) * 100) : 0;
  return (
    <section class="card rebuild" aria-labelledby="rebuild-heading">
      <h2 id="rebuild-heading">Full rebuild</h2>
      <form class="row" onSubmit={(event: Event) => void start(event)}>
        <label>
          Projection
          <select name="projection">
            <option value="">all projections</option>
            {projections.map((name) => (
              <option value={name}>{name}</option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" name="restart" value="true" /> start over (instead of resuming)
        </label>
        <button type="submit" disabled={busy || job?.status === "running"}>
          Start rebuild
        </button>
      </form>
      <ErrorNotice error={error ?? progress.error} />
      <label class="progress-label">
        <span>
          {job === null
            ? "…"
            : job.status === "idle"
              ? "No rebuild has run."
              : `${job.status === "running" ? "Running" : "Done"}${job.projection ? ` (${job.projection})` : ""}: ${job.users_done} of ${job.users_total} users, ${job.events} events${job.events_per_second === null ? "" : `, ${Math.round(job.events_per_second)} events/s`}, ${job.ghosts_removed} rows without a stream removed`}
        </span>
        <progress max={100} value={percent} aria-valuetext={`${percent}%`}>
          {percent}%
        </progress>
      </label>
      <p class="muted">
        {job?.started_at && (
          <>
            Started <Time iso={job.started_at} />
          </>
        )}{" "}
        {job?.finished_at && (
          <>
            · finished <Time iso={job.finished_at} />
          </>
        )}
      </p>
      {job?.last_error && (
        <p class="notice error">
          <strong>Last step failed</strong> (it is retried): <span class="error-text">{job.last_error}</span>
        </p>
      )}
    </section>
  );
}
