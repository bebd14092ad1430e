import { useState } from "hono/jsx/dom";
import type { Delivery, DeliveryPage } from "../admin-api";
import { api } from "../api";
import { Busy, ErrorNotice, EventType, Link, Time } from "../components";
import type { Polled } from "./poll";
import { isFailing } from "./subscription-parts";

export const DELIVERY_FILTERS = ["troubled", "pending", "dead", "delivered", "all"] as const;
export type DeliveryFilter = (typeof DELIVERY_FILTERS)[number];

const FILTER_TEXT: Record<DeliveryFilter, string> = {
  troubled: "retrying or dead",
  pending: "pending",
  dead: "dead",
  delivered: "delivered",
  all: "all",
};

/** One page of a subscription's deliveries, newest first; "troubled": the dead and the retrying. */
export async function loadDeliveries(id: string, filter: DeliveryFilter): Promise<Delivery[]> {
  const page = (state?: string) =>
    api<DeliveryPage>(`/admin/subscriptions/${id}/deliveries?limit=100${state ? `&state=${state}` : ""}`);
  if (filter !== "troubled") return (await page(filter === "all" ? undefined : filter)).results;
  const [dead, pending] = await Promise.all([page("dead"), page("pending")]);
  return [...dead.results, ...pending.results.filter(isFailing)].sort((a, b) => b.position - a.position);
}

/** The deliveries table with a filter by state; a dead or retrying delivery can be sent again now. */
export function Deliveries({
  subscriptionId,
  deliveries,
  filter,
  onFilter,
  onChanged,
}: {
  subscriptionId: string;
  deliveries: Polled<Delivery[]>;
  filter: DeliveryFilter;
  onFilter: (filter: DeliveryFilter) => void;
  onChanged: () => void;
}) {
  const rows = deliveries.data ?? [];
  return (
    <section class="card deliveries" aria-labelledby="deliveries-heading">
      <div class="timeline-head">
        <h2 id="deliveries-heading">Deliveries</h2>
        <label>
          Show
          <select onChange={(e: Event) => onFilter((e.target as HTMLSelectElement).value as DeliveryFilter)}>
            {DELIVERY_FILTERS.map((f) => (
              <option value={f} selected={f === filter}>
                {FILTER_TEXT[f]}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={deliveries.error} />
      <Busy busy={deliveries.data === null} class="table-wrap flat">
        <table class="stacked delivery-table">
          <caption class="visually-hidden">Deliveries shown: {FILTER_TEXT[filter]}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">User</th>
              <th scope="col">State</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last error</th>
              <th scope="col">
                <span class="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((delivery) => (
              <DeliveryRow
                key={delivery.event_id}
                subscriptionId={subscriptionId}
                delivery={delivery}
                onChanged={onChanged}
              />
            ))}
          </tbody>
        </table>
        {deliveries.data !== null && rows.length === 0 && (
          <p class="empty">
            {filter === "troubled" ? "No delivery is retrying or dead." : `No ${FILTER_TEXT[filter]} delivery.`}
          </p>
        )}
      </Busy>
    </section>
  );
}

function DeliveryRow({
  subscriptionId,
  delivery,
  onChanged,
}: {
  subscriptionId: string;
  delivery: Delivery;
  onChanged: () => void;
}) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const d = delivery;

  const redeliver = async () => {
    setBusy(true);
    setError(null);
    try {
      await api<Delivery>(
        `/admin/subscriptions/${subscriptionId}/deliveries/${encodeURIComponent(d.event_id)}/redeliver`,
        { method: "POST" },
      );
      setSent(true);
      onChanged();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const state = d.state === "pending" && d.attempts > 0 ? "retrying" : d.state;
  return (
    <tr data-delivery={d.event_id} class={`delivery-${state}`}>
      <th scope="row" data-label="Event">
        <div>
          <EventType type={d.event_type} /> <span class="rev">at position {d.position}</span>
        </div>
      </th>
      <td data-label="User">
        <Link href={`/console/users/${d.user_id}`}>{d.user_id.slice(0, 8)}…</Link>
      </td>
      <td data-label="State">
        <div>
          <span class={`badge delivery-state-${state}`}>{state}</span>
          {d.next_attempt_at && d.state === "pending" && (
            <span class="sub-url">
              next try <Time iso={d.next_attempt_at} />
            </span>
          )}
        </div>
      </td>
      <td data-label="Attempts">{d.attempts}</td>
      <td data-label="Last error">
        <LastError delivery={d} />
      </td>
      <td data-label="Action">
        <div>
          {(d.state === "dead" || state === "retrying") && (
            <button
              type="button"
              class="secondary"
              disabled={busy}
              onClick={() => void redeliver()}
              aria-label={`Redeliver the ${d.event_type} event at position ${d.position}`}
            >
              Redeliver
            </button>
          )}
          <span role="status">{sent && !busy && <span class="ok-text"> sent again</span>}</span>
          <ErrorNotice error={error} />
        </div>
      </td>
    </tr>
  );
}

/** The last answer's status, and the error when it says more than the status (a timeout, a refused connection). */
function LastError({ delivery: d }: { delivery: Delivery }) {
  const status = d.last_status === null ? null : `HTTP ${d.last_status}`;
  const ok = d.last_status !== null && d.last_status >= 200 && d.last_status < 300;
  return (
    <div>
      {status && <span class={ok ? "ok-text" : "danger-text"}>{status}</span>}
      {d.last_error && d.last_error !== status && <span class="error-text">{d.last_error}</span>}
      {!status && !d.last_error && <span class="muted">none</span>}
    </div>
  );
}
