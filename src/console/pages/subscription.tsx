import { useState, type Child } from "hono/jsx/dom";
import type { Subscription } from "../admin-api";
import { ApiError, api, formText } from "../api";
import { Busy, ErrorNotice, Link, Refreshed, Time } from "../components";
import { eventLabel } from "../format";
import { Deliveries, loadDeliveries, type DeliveryFilter } from "../ops/deliveries";
import { usePoll } from "../ops/poll";
import { LastDelivery, Lag, SubscriptionStatus, subscriptionName } from "../ops/subscription-parts";
import { navigate } from "../router";
import { REFRESH_MS } from "./subscriptions";

/**
 * One subscription: where it stands (status, position, lag, last delivery, failing since), its
 * retrying and dead deliveries with their attempts and last error, and what an operator does about
 * them: pause, resume, replay from a position, redeliver one delivery, delete.
 */
export function SubscriptionPage({ id }: { id: string }) {
  const [filter, setFilter] = useState<DeliveryFilter>("troubled");
  const view = usePoll(() => api<Subscription>(`/admin/subscriptions/${id}`), REFRESH_MS);
  const deliveries = usePoll(() => loadDeliveries(id, filter), REFRESH_MS, [filter]);
  const refreshAll = () => {
    view.refresh();
    deliveries.refresh();
  };
  const sub = view.data;

  if (view.error instanceof ApiError && view.error.status === 404) {
    return (
      <main id="main" class="page">
        <h1>Subscription not found</h1>
        <p>
          It may have been deleted. <Link href="/console/subscriptions">All subscriptions</Link>
        </p>
      </main>
    );
  }

  return (
    <main id="main" class="page subscription">
      <p class="crumbs">
        <Link href="/console/subscriptions">← Subscriptions</Link>
      </p>
      <header class="user-head">
        <h1>{sub ? subscriptionName(sub) : "Subscription"}</h1>
        {sub && <SubscriptionStatus status={sub.status} />}
        <Refreshed at={view.at} everyMs={REFRESH_MS} />
      </header>
      <ErrorNotice error={view.error} />
      <div class="user-grid">
        <section class="card" aria-labelledby="sub-state-heading">
          <h2 id="sub-state-heading">State</h2>
          <Busy busy={sub === null}>
            <dl class="state sub-state">
              <Field label="URL">{sub?.url ?? "—"}</Field>
              <Field label="Events">
                {sub ? (sub.event_types.length ? sub.event_types.map(eventLabel).join(", ") : "every user event") : ""}
              </Field>
              <Field label="Position">{sub ? `${sub.position} (delivered, dead or not wanted up to here)` : ""}</Field>
              <Field label="Lag">{sub && <Lag sub={sub} />}</Field>
              <Field label="Last delivery">{sub && <LastDelivery sub={sub} />}</Field>
              <Field label="Failing since">
                {sub && (sub.failing_since ? <Time iso={sub.failing_since} /> : <span class="muted">not failing</span>)}
              </Field>
              <Field label="Created">{sub && <Time iso={sub.created_at} />}</Field>
              <Field label="Id">{id}</Field>
            </dl>
          </Busy>
        </section>
        {sub ? (
          <Actions sub={sub} onChanged={refreshAll} />
        ) : (
          <section class="card actions loading" aria-labelledby="sub-actions-heading" aria-busy="true">
            <h2 id="sub-actions-heading">Actions</h2>
            <p class="placeholder">Loading…</p>
          </section>
        )}
      </div>
      <Deliveries
        subscriptionId={id}
        deliveries={deliveries}
        filter={filter}
        onFilter={setFilter}
        onChanged={refreshAll}
      />
    </main>
  );
}

function Field({ label, children }: { label: string; children: Child }) {
  return (
    <div class="field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** Pause or resume, replay from a position, delete (typed confirmation). */
function Actions({ sub, onChanged }: { sub: Subscription; onChanged: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [typed, setTyped] = useState("");

  const act = async (call: () => Promise<unknown>, done: string) => {
    setBusy(true);
    setError(null);
    setMessage(null);
    try {
      await call();
      setMessage(done);
      onChanged();
      return true;
    } catch (caught) {
      setError(caught);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const path = `/admin/subscriptions/${sub.id}`;
  const setStatus = (status: "active" | "paused") =>
    act(
      () => api<Subscription>(path, { method: "PATCH", body: { status } }),
      status === "paused" ? "Paused: nothing is sent until it is resumed." : "Resumed: the backlog is being sent.",
    );
  const replay = (event: Event) => {
    event.preventDefault();
    const from = Number(formText(new FormData(event.target as HTMLFormElement), "from_position"));
    void act(
      () => api<Subscription>(`${path}/replay`, { method: "POST", body: { from_position: from } }),
      `Replaying every event after position ${from}.`,
    );
  };
  const remove = async (event: Event) => {
    event.preventDefault();
    if (await act(() => api<unknown>(path, { method: "DELETE", text: true }), "Deleted.")) {
      navigate("/console/subscriptions");
    }
  };

  return (
    <section class="card actions sub-actions" aria-labelledby="sub-actions-heading">
      <h2 id="sub-actions-heading">Actions</h2>
      <div class="row">
        {/* One button whose label changes, so keyboard focus stays on it after a pause or resume. */}
        <button
          type="button"
          disabled={busy}
          onClick={() => void setStatus(sub.status === "active" ? "paused" : "active")}
        >
          {sub.status === "active" ? "Pause" : "Resume"}
        </button>
        <span class="muted">
          {sub.status === "active"
            ? "nothing is sent while paused; the events wait in the feed"
            : sub.status === "paused"
              ? "sends what waited, in each user's order"
              : "a 410 Gone disabled it: resuming starts with the delivery that got the 410"}
        </span>
      </div>
      <details class="command">
        <summary>Replay from a position</summary>
        <form class="row" onSubmit={replay}>
          <label>
            After position
            <input name="from_position" type="number" min={0} step={1} required value={0} />
          </label>
          <button type="submit" disabled={busy}>
            Replay
          </button>
        </form>
        <p class="muted">
          Forgets what was delivered or dead after that position and reads the feed again from there; repeats carry the
          same webhook-id.
        </p>
      </details>
      <details class="command danger">
        <summary>Delete subscription</summary>
        <form class="stack" onSubmit={(event: Event) => void remove(event)}>
          <p>Removes its deliveries and its secret; the receiver hears nothing more.</p>
          <label>
            Type <strong>delete</strong> to confirm
            <input
              name="confirm"
              autocomplete="off"
              onInput={(e: Event) => setTyped((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="danger" disabled={busy || typed !== "delete"}>
            Delete for good
          </button>
        </form>
      </details>
      <div role="status">{message && <p class="notice ok">{message}</p>}</div>
      <ErrorNotice error={error} />
    </section>
  );
}
