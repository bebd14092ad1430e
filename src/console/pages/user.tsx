import { useEffect, useState } from "hono/jsx/dom";
import { allEvents, api, type StreamEvent, type User } from "../api";
import { Busy, ErrorNotice, StatusBadge } from "../components";
import { useLiveEvents } from "../live";
import type { Session } from "../session";
import { Actions, ActionsPlaceholder } from "../user/actions";
import { PersonalData } from "../user/personal-data";
import { RefusedAttempts } from "../user/refusals";
import { StateTable } from "../user/state-table";
import { TimeTravel, TimeTravelPlaceholder } from "../user/time-travel";
import { Timeline } from "../user/timeline";

/**
 * One user's whole life: the state, the timeline of events, time travel, and the actions.
 * Everything comes from the user's own object (events, history and the live feed), so it is exact
 * even for a deleted user and while the read model lags. The timeline grows live; the state and the
 * forms stay at the revision they were loaded at until the operator reloads (or acts), so a command
 * is never sent against a state the operator has not seen.
 */
export function UserPage({ userId, session, onRevoked }: { userId: string; session: Session; onRevoked: () => void }) {
  const [user, setUser] = useState<User | null>(null);
  const [events, setEvents] = useState<StreamEvent[] | null>(null);
  const [fresh, setFresh] = useState<ReadonlySet<number>>(new Set());
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const reload = () => setGeneration((n) => n + 1);

  useEffect(() => {
    let current = true;
    (async () => {
      const stream = await allEvents(userId);
      const last = stream[stream.length - 1];
      if (!last) throw new Error("This user has no events: no such user.");
      const state = await api<User>(`/v1/users/${userId}/history/?revision=${last.revision}`);
      return { stream, state };
    })()
      .then(({ stream, state }) => {
        if (!current) return;
        setEvents(stream);
        setUser(state);
        setFresh(new Set());
        setError(null);
      })
      .catch((caught) => current && setError(caught));
    return () => {
      current = false;
    };
  }, [userId, generation]);

  const head = events?.[events.length - 1]?.revision ?? null;
  const live = useLiveEvents(
    userId,
    head === null ? null : head + 1,
    (event) => {
      setEvents((known) => {
        if (!known || event.revision <= (known[known.length - 1]?.revision ?? 0)) return known;
        return [...known, event];
      });
      setFresh((marked) => new Set(marked).add(event.revision));
    },
    onRevoked,
  );

  /** After the operator's own command: the state at the revision it produced; the event comes live. */
  const acted = async (revision: number, message: string) => {
    setNotice(message);
    try {
      setUser(await api<User>(`/v1/users/${userId}/history/?revision=${revision}`));
      if (live !== "live") reload();
    } catch (caught) {
      setError(caught);
    }
  };

  const behind = user && head !== null && head > user.revision ? head - user.revision : 0;
  return (
    <main id="main" class="page user-page">
      <header class="user-head">
        <h1>{user ? user.username : "User"}</h1>
        {user && <StatusBadge status={user.status} />}
        {user && <span class="revision">revision {user.revision}</span>}
      </header>
      <ErrorNotice error={error} />
      {/* Always one line, so the page does not move when events arrive. */}
      <div class={`changed-since ${behind > 0 ? "notice info" : ""}`} role="status">
        {behind > 0 ? (
          <>
            <span>
              {behind === 1 ? "1 new event" : `${behind} new events`} since this page loaded (see the timeline).
            </span>
            <button type="button" class="secondary" onClick={reload}>
              Show the user as it is now
            </button>
          </>
        ) : (
          <span class="muted">{user ? `Showing the latest revision, ${user.revision}.` : "Loading the user…"}</span>
        )}
      </div>
      <div class="user-grid">
        <section aria-labelledby="now-heading" class="card">
          <h2 id="now-heading">State</h2>
          <Busy busy={!user}>
            <StateTable user={user} previous={undefined} />
          </Busy>
        </section>
        {user && events ? (
          <Actions
            key={`${user.revision}`}
            user={user}
            session={session}
            notice={notice}
            onDone={(revision, message) => void acted(revision, message)}
            onReload={reload}
          />
        ) : (
          <ActionsPlaceholder />
        )}
      </div>
      {user && events ? (
        <TimeTravel
          key={`tt-${user.revision}`}
          userId={userId}
          latest={user.revision}
          events={events}
          admin={session.role === "admin" && user.status !== "erased"}
          onReverted={(revision, message) => void acted(revision, message)}
        />
      ) : (
        <TimeTravelPlaceholder />
      )}
      <Timeline events={events} fresh={fresh} live={live} userId={userId} canMakeTests={session.role === "admin"} />
      <PersonalData key={`pd-${userId}`} userId={userId} />
      {session.role === "admin" && <RefusedAttempts key={`refused-${userId}`} userId={userId} />}
    </main>
  );
}
