import type { RequestTrail } from "../admin-api";
import { ApiError, api } from "../api";
import { Busy, ColumnHeads, ErrorNotice, EventType, Link, Refreshed, Time } from "../components";
import { usePoll } from "../ops/poll";
import { RefusalTable } from "../user/refusals";

/** Pending states settle within seconds: the trail is read again this often while the page is open. */
const REFRESH_MS = 5000;

type Trail = RequestTrail;
type TrailEvent = Trail["events"][number];

/** A projection's, mail's or delivery's state as the subscription pages colour it. */
const STATE_CLASS: Record<string, string> = {
  applied: "delivered",
  delivered: "delivered",
  sent: "delivered",
  pending: "pending",
  dead_letter: "dead",
  dead: "dead",
};

function State({ state, title }: { state: string; title?: string }) {
  return (
    <span class={`badge delivery-state-${STATE_CLASS[state] ?? "pending"}`} title={title}>
      {state.replace("_", " ")}
    </span>
  );
}

/**
 * A request's trail (`GET /admin/requests/{id}`): the events it caused, whether each projection
 * applied them, the welcome mail and the webhook deliveries they led to. Read again every few
 * seconds, so a pending projection or delivery is seen to settle.
 */
export function RequestPage({ id }: { id: string }) {
  const trail = usePoll(() => api<Trail>(`/admin/requests/${encodeURIComponent(id)}`), REFRESH_MS);
  const data = trail.data;

  if (trail.error instanceof ApiError && (trail.error.status === 404 || trail.error.status === 422)) {
    return (
      <main id="main" class="page">
        <h1>{trail.error.status === 404 ? "Nothing found for this request" : "Not a request id"}</h1>
        <p>
          <code>{id}</code>{" "}
          {trail.error.status === 404
            ? "caused no event the audit log holds and no refusal the journal kept: it changed nothing, or its events are still on their way (this page looks again every few seconds)."
            : "cannot be a request id: ids are 1 to 128 letters, digits, _ . : or -."}
        </p>
        <p>
          <Link href="/console/audit">Audit</Link>
        </p>
      </main>
    );
  }

  const users = data ? [...new Map(data.events.map((e) => [e.user_id, e])).values()] : [];
  return (
    <main id="main" class="page request-trail">
      <p class="crumbs">
        <Link href="/console/audit">← Audit</Link>
      </p>
      <header class="user-head">
        <h1>
          Request <code>{id}</code>
        </h1>
        <Refreshed at={trail.at} everyMs={REFRESH_MS} />
      </header>
      <ErrorNotice error={trail.error} />
      {data && (
        <p class="count">
          {data.events.length} {data.events.length === 1 ? "event" : "events"}
          {data.truncated ? " (the first 100; more carry this id)" : ""} for{" "}
          {users.map((e, i) => (
            <>
              {i > 0 && ", "}
              <Link href={`/console/users/${e.user_id}`}>{e.username}</Link>
            </>
          ))}
        </p>
      )}
      {data && data.refusals.length > 0 && (
        <section class="card" aria-labelledby="trail-refusals-heading">
          <h2 id="trail-refusals-heading">Refused</h2>
          <p class="muted">The service refused this request: it changed nothing.</p>
          <div class="table-wrap flat">
            <RefusalTable rows={data.refusals} caption="The request's refused commands" />
          </div>
        </section>
      )}
      <section class="card" aria-labelledby="trail-events-heading">
        <h2 id="trail-events-heading">Events and projections</h2>
        <p class="muted">
          A projection has applied an event once its checkpoint of the user reached the event's revision; when, is known
          only while the event is still its newest.
        </p>
        <Busy busy={data === null} class="table-wrap flat">
          <table class="stacked trail-events">
            <caption class="visually-hidden">The request's events, oldest first</caption>
            <ColumnHeads names={["When", "User", "Event", "By", "Why", "Projections"]} />
            <tbody>
              {(data?.events ?? []).map((event) => (
                <tr data-event={event.event_id}>
                  <td data-label="When">
                    <Time iso={event.timestamp} />
                  </td>
                  <td data-label="User">
                    <Link href={`/console/users/${event.user_id}`}>{event.username}</Link>{" "}
                    <span class="rev">#{event.revision}</span>
                  </td>
                  <td data-label="Event">
                    <EventType type={event.event_type} />
                    {event.position !== null && <span class="muted"> feed #{event.position}</span>}
                  </td>
                  <td data-label="By">{event.actor_username ?? <span class="none">no actor</span>}</td>
                  <td data-label="Why">{event.reason ?? <span class="none">—</span>}</td>
                  <td data-label="Projections">
                    <Projections event={event} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Busy>
      </section>
      <section class="card" aria-labelledby="trail-mail-heading">
        <h2 id="trail-mail-heading">Mail</h2>
        {data && data.mail.length === 0 ? (
          <p class="none">No mail follows these events.</p>
        ) : (
          <table class="stacked trail-mail">
            <caption class="visually-hidden">Mail the events led to</caption>
            <ColumnHeads names={["Kind", "State", "To", "Sent", "Attempts"]} />
            <tbody>
              {(data?.mail ?? []).map((mail) => (
                <tr data-event={mail.event_id}>
                  <td data-label="Kind">{mail.kind}</td>
                  <td data-label="State">
                    <State state={mail.state} />
                    {mail.last_error && <span class="error-text"> {mail.last_error}</span>}
                  </td>
                  <td data-label="To">{mail.recipient ?? <span class="none">—</span>}</td>
                  <td data-label="Sent">{mail.sent_at ? <Time iso={mail.sent_at} /> : <span class="none">—</span>}</td>
                  <td data-label="Attempts">{mail.attempts ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card" aria-labelledby="trail-deliveries-heading">
        <h2 id="trail-deliveries-heading">Webhook deliveries</h2>
        {data && (
          <p class="muted">
            {data.subscriptions.checked} {data.subscriptions.checked === 1 ? "subscription" : "subscriptions"} asked
            {data.subscriptions.truncated ? " (the oldest 20; more exist)" : ""}.
          </p>
        )}
        {data && data.deliveries.length === 0 ? (
          <p class="none">No subscription delivers these events.</p>
        ) : (
          <table class="stacked trail-deliveries delivery-table">
            <caption class="visually-hidden">Webhook deliveries of the events</caption>
            <ColumnHeads names={["Subscription", "Event", "State", "Attempts", "Last answer"]} />
            <tbody>
              {(data?.deliveries ?? []).map((delivery) => (
                <tr data-event={delivery.event_id} class={delivery.state === "dead" ? "delivery-dead" : undefined}>
                  <td data-label="Subscription">
                    <Link href={`/console/subscriptions/${delivery.subscription_id}`}>{delivery.url}</Link>
                  </td>
                  <td data-label="Event">
                    <EventType type={delivery.event_type} /> <span class="muted">feed #{delivery.position}</span>
                  </td>
                  <td data-label="State">
                    <State state={delivery.state} />
                    {delivery.next_attempt_at && (
                      <span class="muted">
                        {" "}
                        next <Time iso={delivery.next_attempt_at} />
                      </span>
                    )}
                  </td>
                  <td data-label="Attempts">{delivery.attempts}</td>
                  <td data-label="Last answer">
                    {delivery.last_status ?? <span class="none">—</span>}
                    {delivery.last_error && <span class="error-text">{delivery.last_error}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}

function Projections({ event }: { event: TrailEvent }) {
  return (
    <ul class="inline-list trail-projections">
      {event.projections.map((p) => (
        <li>
          {p.name}{" "}
          <State
            state={p.state}
            title={
              p.applied_at
                ? `applied at ${p.applied_at}`
                : p.error
                  ? p.error
                  : `checkpoint of the user: ${p.checkpoint ?? "none"}`
            }
          />
        </li>
      ))}
    </ul>
  );
}
