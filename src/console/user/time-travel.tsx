import { useEffect, useMemo, useState } from "hono/jsx/dom";
import { api, type StreamEvent, type User } from "../api";
import { Busy, ErrorNotice, EventType, Time } from "../components";
import { actorName, fromLocalInput, toLocalInput } from "../format";
import { StateTable } from "./state-table";

/**
 * The user as of a revision (slider) or an instant (date-time field), answered by the user's own
 * object (`/history/`), with the fields changed against the revision before highlighted.
 */
export function TimeTravel({ userId, latest, events }: { userId: string; latest: number; events: StreamEvent[] }) {
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
    </section>
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
