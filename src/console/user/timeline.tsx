import { useState } from "hono/jsx/dom";
import type { StreamEvent } from "../api";
import type { LiveState } from "../live";
import { Busy, EventType, Time } from "../components";
import { actorName, eventLabel } from "../format";
import { RequestId } from "../request-id";
import { MakeTest } from "./make-test";

const PAGE = 100;

/** The events, newest first, each with who, when (local and UTC), why and the request id. */
const LIVE_LABELS: Record<LiveState, string> = {
  connecting: "connecting to the live feed…",
  live: "live: new events appear as they commit",
  closed: "not live: the stream was erased",
};

export function Timeline({
  events,
  fresh,
  live,
  userId,
  canMakeTests,
}: {
  events: StreamEvent[] | null;
  /** Revisions that arrived live since the page loaded. */
  fresh: ReadonlySet<number>;
  live: LiveState;
  userId: string;
  /** The viewer is an admin: offers "Make a test from this" and links request ids to their trail (admin routes both). */
  canMakeTests: boolean;
}) {
  const [type, setType] = useState("");
  const [shown, setShown] = useState(PAGE);
  const [testFor, setTestFor] = useState<number | null>(null);
  const types = [...new Set((events ?? []).map((e) => e.event_type))].sort();
  const newestFirst = [...(events ?? [])].reverse().filter((e) => !type || e.event_type === type);

  return (
    <section class="card timeline" aria-labelledby="timeline-heading">
      <div class="timeline-head">
        <h2 id="timeline-heading">Timeline</h2>
        <span class={`live-state live-${live}`} role="status">
          {LIVE_LABELS[live]}
        </span>
        <label>
          Event type
          <select onChange={(e: Event) => setType((e.target as HTMLSelectElement).value)}>
            <option value="">all types</option>
            {types.map((t) => (
              <option value={t} selected={t === type}>
                {eventLabel(t)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {testFor !== null && <MakeTest userId={userId} revision={testFor} onClose={() => setTestFor(null)} />}
      <Busy busy={events === null}>
        <ol class="events" reversed>
          {newestFirst.slice(0, shown).map((event) => (
            <li
              class={fresh.has(event.revision) ? "event fresh" : "event"}
              data-revision={event.revision}
              data-type={event.event_type}
            >
              <div class="event-line">
                <EventType type={event.event_type} />
                {fresh.has(event.revision) && <span class="new-tag">new</span>}
                <span class="rev">#{event.revision}</span>
                <Time iso={event.timestamp} />
              </div>
              <dl class="event-meta">
                <div>
                  <dt>Who</dt>
                  <dd>{actorName(event.metadata)}</dd>
                </div>
                <div>
                  <dt>Why</dt>
                  <dd>{event.metadata.reason ?? <span class="none">no reason given</span>}</dd>
                </div>
                <div>
                  <dt>Request id</dt>
                  <dd>
                    <RequestId id={event.metadata.request_id} link={canMakeTests} />
                  </dd>
                </div>
                {Object.keys(event.data).filter((k) => k !== "reason").length > 0 && (
                  <div>
                    <dt>Data</dt>
                    <dd class="data">
                      {Object.entries(event.data)
                        .filter(([k]) => k !== "reason")
                        .map(([k, v]) => `${k}: ${String(v)}`)
                        .join(", ")}
                    </dd>
                  </div>
                )}
              </dl>
              {canMakeTests && (
                <button type="button" class="link" onClick={() => setTestFor(event.revision)}>
                  Make a test from this
                </button>
              )}
            </li>
          ))}
        </ol>
        {newestFirst.length > shown && (
          <button type="button" class="secondary" onClick={() => setShown(shown + PAGE)}>
            Show {Math.min(PAGE, newestFirst.length - shown)} older events
          </button>
        )}
        {events !== null && newestFirst.length === 0 && <p class="empty">No event of this type.</p>}
      </Busy>
    </section>
  );
}
