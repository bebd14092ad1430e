import { useState } from "hono/jsx/dom";
import type { DeadLetterPage, ProjectionStatus, RebuildProgress } from "../admin-api";
import { api } from "../api";
import { Busy, ColumnHeads, ErrorNotice, Link, Refreshed, Time } from "../components";
import { duration } from "../format";
import { DeadLetters, type LetterFilter } from "../ops/dead-letters";
import { Import } from "../ops/import";
import { usePoll } from "../ops/poll";
import { Rebuild } from "../ops/rebuild";
import { SubscriptionLag } from "../ops/subscription-lag";
import { listSubscriptions } from "../ops/subscription-parts";

/** How often the page asks again: often enough to watch a backlog drain, cheap for the server. */
const REFRESH_MS = 2_000;

/**
 * The pipeline's health: per projection, how far behind it is and how long its oldest owed event
 * has waited; the outbox backlog; the dead letters with their history and a redrive; the full
 * rebuild with its progress; an import with its progress; each webhook subscription's lag behind the
 * feed. Refreshed every two seconds.
 */
export function OperationsPage() {
  const [letterState, setLetterState] = useState<LetterFilter>("open");
  const status = usePoll(() => api<ProjectionStatus>("/admin/projections/status"), REFRESH_MS);
  const letters = usePoll(() => api<DeadLetterPage>(`/admin/dead-letters?state=${letterState}&limit=50`), REFRESH_MS, [
    letterState,
  ]);
  const rebuild = usePoll(() => api<RebuildProgress>("/admin/projections/rebuild"), REFRESH_MS);
  const subs = usePoll(listSubscriptions, REFRESH_MS);
  const refreshAll = () => {
    status.refresh();
    letters.refresh();
    rebuild.refresh();
  };
  const s = status.data;

  return (
    <main id="main" class="page ops">
      <header class="user-head">
        <h1>Operations</h1>
        <Refreshed at={status.at} everyMs={REFRESH_MS} />
      </header>
      <ErrorNotice error={status.error} />
      <div class="metrics">
        <Metric label="users some projection is behind on" value={s?.users_behind} />
        <Metric label="outbox backlog (events not in every projection)" value={s?.outbox.backlog} />
        <Metric
          label="oldest event in the outbox waits"
          value={s ? (s.outbox.oldest_age_ms === null ? "—" : duration(s.outbox.oldest_age_ms)) : undefined}
        />
        <Metric label="open dead letters" value={s?.dead_letters} alert={(s?.dead_letters ?? 0) > 0} />
      </div>
      <section class="card" aria-labelledby="projections-heading">
        <h2 id="projections-heading">Projections</h2>
        <Busy busy={s === null} class="table-wrap flat">
          <table class="stacked projections">
            <caption class="visually-hidden">Lag of each projection</caption>
            <ColumnHeads
              names={["Projection", "Users behind", "Oldest event owed waits", "Last projected", "Open dead letters"]}
            />
            <tbody>
              {(s?.projections ?? []).map((p) => (
                <tr data-projection={p.name}>
                  <th scope="row" data-label="Projection">
                    {p.name}
                  </th>
                  <td data-label="Users behind">{p.users_behind}</td>
                  <td data-label="Oldest owed waits">
                    {p.oldest_owed_age_ms === null ? "nothing owed" : duration(p.oldest_owed_age_ms)}
                  </td>
                  <td data-label="Last projected">
                    {p.last_projected ? (
                      <span>
                        <Link href={`/console/users/${p.last_projected.user_id}`}>
                          revision {p.last_projected.revision}
                        </Link>{" "}
                        of <Time iso={p.last_projected.event_at} />, after{" "}
                        {duration(
                          Math.max(
                            0,
                            Date.parse(p.last_projected.projected_at) - Date.parse(p.last_projected.event_at),
                          ),
                        )}
                      </span>
                    ) : (
                      "nothing yet"
                    )}
                  </td>
                  <td data-label="Open dead letters">{p.dead_letters_open}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Busy>
      </section>
      <SubscriptionLag subs={subs} />
      <DeadLetters letters={letters} state={letterState} onState={setLetterState} onChanged={refreshAll} />
      <div class="ops-grid">
        <Rebuild progress={rebuild} projections={(s?.projections ?? []).map((p) => p.name)} onStarted={refreshAll} />
        <Import onProgress={status.refresh} />
      </div>
    </main>
  );
}

function Metric({ label, value, alert }: { label: string; value: number | string | undefined; alert?: boolean }) {
  return (
    <div class={`metric ${alert ? "alert" : ""}`}>
      <div class="value">{value ?? "…"}</div>
      <div class="label">{label}</div>
    </div>
  );
}
