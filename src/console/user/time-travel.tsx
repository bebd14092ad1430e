import { useEffect, useMemo, useState } from "hono/jsx/dom";
import { api, ifMatch, type RevertResponse, type StreamEvent, type User } from "../api";
import { Busy, ErrorNotice, EventType, Time } from "../components";
import { actorName, fromLocalInput, toLocalInput } from "../format";
import { StateTable } from "./state-table";

/**
 * The user as of a revision (slider) or an instant (date-time field), answered by the user's own
 * object (`/history/`), with the fields changed against the revision before highlighted. An admin
 * can put the user back as it was at the revision shown (`PutBack`).
 */
export function TimeTravel({
  userId,
  latest,
  events,
  admin = false,
  onReverted,
}: {
  userId: string;
  latest: number;
  events: StreamEvent[];
  admin?: boolean;
  /** After a revert: the revision it produced and its answer, as after any command. */
  onReverted?: (revision: number, message: string) => void;
}) {
  const cache = useMemo(() => new Map<number, Promise<User>>(), [userId, latest]);
  const at = (revision: number) => {
    let hit = cache.get(revision);
    if (!hit) {
      hit = api<User>(`/v1/users/${userId}/history/?revision=${revision}`);
      cache.set(revision, hit);
      hit.catch(() => cache.delete(revision));
    }
    return hit;
  };

  const [revision, setRevision] = useState(latest);
  const [shown, setShown] = useState<{ user: User; previous: User | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [instant, setInstant] = useState("");

  useEffect(() => {
    let current = true;
    setBusy(true);
    Promise.all([at(revision), revision > 1 ? at(revision - 1) : Promise.resolve(null)])
      .then(([user, previous]) => current && (setShown({ user, previous }), setError(null)))
      .catch((caught) => current && setError(caught))
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  }, [revision]);

  const event = events.find((e) => e.revision === revision);

  const travelTo = async (event: Event) => {
    event.preventDefault();
    const iso = fromLocalInput(instant);
    if (!iso) return;
    try {
      const user = await api<User>(`/v1/users/${userId}/history/?timestamp=${encodeURIComponent(iso)}`);
      cache.set(user.revision, Promise.resolve(user));
      setRevision(user.revision);
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section class="card time-travel" aria-labelledby="tt-heading">
      <h2 id="tt-heading">Time travel</h2>
      <div class="tt-controls">
        <label class="slider">
          <span>
            Revision <output for="tt-slider">{revision}</output> of {latest}
          </span>
          <input
            id="tt-slider"
            type="range"
            min={1}
            max={latest}
            step={1}
            value={revision}
            aria-valuetext={
              event ? `revision ${revision}, ${event.event_type} at ${event.timestamp}` : `revision ${revision}`
            }
            onInput={(e: Event) => setRevision(Number((e.target as HTMLInputElement).value))}
          />
        </label>
        <form class="instant" onSubmit={(event: Event) => void travelTo(event)}>
          <label>
            As of (your local time)
            <input
              type="datetime-local"
              step="0.001"
              value={instant || (event ? toLocalInput(event.timestamp) : "")}
              onInput={(e: Event) => setInstant((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="secondary">
            Go
          </button>
        </form>
      </div>
      <p class="tt-event" aria-live="polite">
        {event ? (
          <>
            <EventType type={event.event_type} /> by {actorName(event.metadata)} at <Time iso={event.timestamp} />
          </>
        ) : (
          "…"
        )}
      </p>
      <ErrorNotice error={error} />
      <Busy busy={busy}>
        <StateTable user={shown?.user ?? null} previous={shown ? shown.previous : undefined} />
      </Busy>
      {admin && onReverted && revision < latest && (
        <PutBack key={`put-back-${revision}`} userId={userId} revision={revision} latest={latest} onDone={onReverted} />
      )}
    </section>
  );
}

/**
 * "Put back as it was": a revert to the revision shown. The operator writes the reason, sees the
 * events the revert would append (a dry run: nothing is written, nothing claimed) and who holds a
 * name it would take back, then confirms; the revert goes with `If-Match` on the revision the page
 * shows, so a change made meanwhile is a 412, never overwritten.
 */
function PutBack({
  userId,
  revision,
  latest,
  onDone,
}: {
  userId: string;
  revision: number;
  latest: number;
  onDone: (revision: number, message: string) => void;
}) {
  const [reason, setReason] = useState("");
  const [preview, setPreview] = useState<RevertResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const path = `/v1/users/${userId}/revert/`;
  const body = () => ({ to_revision: revision, reason: reason.trim() });

  const ask = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setPreview(await api<RevertResponse>(`${path}?dry_run=true`, { method: "POST", body: body() }));
    } catch (caught) {
      setPreview(null);
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await api<RevertResponse>(path, { method: "POST", body: body(), headers: ifMatch(latest) });
      const what = res.events.length === 0 ? "nothing to change" : res.events.join(", ");
      onDone(res.revision, `${res.message}: ${what} (revision ${res.revision}).`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  const blocked = (preview?.conflicts ?? []).length > 0;
  return (
    <details class="command put-back" data-command="put-back">
      <summary>Put back as it was at revision {revision}</summary>
      <form class="stack" onSubmit={(event: Event) => void ask(event)}>
        <label>
          Reason (recorded in the events)
          <textarea
            name="reason"
            required
            maxLength={1000}
            rows={2}
            value={reason}
            onInput={(e: Event) => {
              setReason((e.target as HTMLTextAreaElement).value);
              setPreview(null);
            }}
          />
        </label>
        <button type="submit" class="secondary" disabled={busy}>
          Preview the events
        </button>
      </form>
      {preview && (
        <div class="revert-preview" aria-live="polite">
          {preview.events.length === 0 ? (
            <p>Nothing to change: the user is as it was at revision {revision}.</p>
          ) : (
            <>
              <p>
                Appends {preview.events.length === 1 ? "1 event" : `${preview.events.length} events`} after revision{" "}
                {preview.revision}; every earlier event stays:
              </p>
              <ol>
                {(preview.preview ?? []).map((event) => (
                  <li>
                    <EventType type={event.event_type} /> <code>{JSON.stringify(event.data)}</code>
                  </li>
                ))}
              </ol>
            </>
          )}
          {blocked && (
            <p class="notice error" role="alert">
              {(preview.conflicts ?? []).map((c) => `The ${c.field} ${c.value} belongs to someone else now. `)}
              The revert would be refused (409).
            </p>
          )}
          {preview.events.length > 0 && (
            <button type="button" disabled={busy || blocked} onClick={() => void confirm()}>
              Put back as it was
            </button>
          )}
        </div>
      )}
      <ErrorNotice error={error} />
    </details>
  );
}

/** Time travel while the user loads: the same controls (disabled) and table, so nothing moves when it arrives. */
export function TimeTravelPlaceholder() {
  return (
    <section class="card time-travel" aria-labelledby="tt-heading" aria-busy="true">
      <h2 id="tt-heading">Time travel</h2>
      <div class="tt-controls">
        <label class="slider">
          <span>Revision …</span>
          <input type="range" min={1} max={1} value={1} disabled />
        </label>
        <form class="instant">
          <label>
            As of (your local time)
            <input type="datetime-local" disabled />
          </label>
          <button type="submit" class="secondary" disabled>
            Go
          </button>
        </form>
      </div>
      <p class="tt-event">…</p>
      <StateTable user={null} previous={undefined} />
    </section>
  );
}
