import { useEffect, useState } from "hono/jsx/dom";
import type { RefusalEntry, RefusalPage } from "../admin-api";
import { api } from "../api";
import { Busy, ErrorNotice, Link, Time } from "../components";
import { RequestId } from "../request-id";

/** Refusals shown on a user's page: the newest; the API pages further. */
const SHOWN = 50;

type Row = Omit<RefusalEntry, "request_id"> & { request_id?: string };

/** Refused commands as a table: when, who, what, the status and the reason code, the request. */
export function RefusalTable({ rows, caption }: { rows: readonly Row[]; caption: string }) {
  const withRequest = rows.some((row) => row.request_id !== undefined);
  return (
    <table class="stacked refusals">
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">By</th>
          <th scope="col">Command</th>
          <th scope="col">Status</th>
          <th scope="col">Reason</th>
          {withRequest && <th scope="col">Request</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr data-status={row.status}>
            <td data-label="When">
              <Time iso={row.at} />
            </td>
            <td data-label="By">
              {row.actor_id === "anonymous" ? (
                <span class="none">anonymous (no valid token)</span>
              ) : (
                <Link href={`/console/users/${row.actor_id}`}>
                  <code>{row.actor_id}</code>
                </Link>
              )}
            </td>
            <td data-label="Command">{row.command}</td>
            <td data-label="Status">
              <span class="badge delivery-state-dead">{row.status}</span>
            </td>
            <td data-label="Reason">
              <code>{row.reason}</code>
            </td>
            {withRequest && (
              <td data-label="Request">
                <RequestId id={row.request_id ?? null} link />
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * "Refused attempts": the commands aimed at this user that were refused (`GET /admin/refusals`),
 * newest first, each linked to its request's trail. Admins only: the journal is an admin route.
 * Refusals never touch the user's stream, so they are not in the timeline.
 */
export function RefusedAttempts({ userId }: { userId: string }) {
  const [page, setPage] = useState<RefusalPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let current = true;
    api<RefusalPage>(`/admin/refusals/?user_id=${encodeURIComponent(userId)}&limit=${SHOWN}`)
      .then((body) => {
        if (!current) return;
        setPage(body);
        setError(null);
      })
      .catch((caught) => current && setError(caught));
    return () => {
      current = false;
    };
  }, [userId, generation]);

  return (
    <section aria-labelledby="refused-heading" class="card refused-attempts">
      <h2 id="refused-heading">Refused attempts</h2>
      <p class="muted">
        Commands aimed at this user that the service refused (401, 403, 409, 412, 422, 429), failed logins with this
        user's name included. They changed nothing: the stream above does not hold them.
      </p>
      <button type="button" class="secondary" onClick={() => setGeneration((n) => n + 1)}>
        Reload
      </button>
      <ErrorNotice error={error} />
      <Busy busy={page === null && error === null} class="table-wrap flat">
        {page && page.results.length === 0 ? (
          <p class="none">No refused attempts.</p>
        ) : (
          <RefusalTable rows={page?.results ?? []} caption="Refused commands aimed at this user, newest first" />
        )}
        {page && page.next_cursor !== null && <p class="muted">The newest {SHOWN} are shown.</p>}
        {page && page.suppressed > 0 && (
          <p class="muted">
            {page.suppressed} more were only counted: past the journal's hourly cap for this user or an actor.
          </p>
        )}
      </Busy>
    </section>
  );
}
