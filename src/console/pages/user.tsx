import { useEffect, useState } from "hono/jsx/dom";
import { allEvents, api, type StreamEvent, type User } from "../api";
import { Busy, ErrorNotice, StatusBadge } from "../components";
import type { Session } from "../session";
import { Actions } from "../user/actions";
import { StateTable } from "../user/state-table";
import { TimeTravel } from "../user/time-travel";
import { Timeline } from "../user/timeline";

export interface Loaded {
  user: User;
  events: StreamEvent[];
}

/**
 * One user's whole life: the state now, the timeline of events, time travel, and the actions.
 * Everything comes from the user's own object (events and history), so it is exact even for a
 * deleted user and while the read model lags.
 */
export function UserPage({ userId, session }: { userId: string; session: Session }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(true);
  const [generation, setGeneration] = useState(0);
  const reload = () => setGeneration((n) => n + 1);

  useEffect(() => {
    let current = true;
    setBusy(true);
    (async () => {
      const events = await allEvents(userId);
      const last = events[events.length - 1];
      if (!last) throw new Error("This user has no events: no such user.");
      const user = await api<User>(`/v1/users/${userId}/history/?revision=${last.revision}`);
      return { user, events };
    })()
      .then((result) => current && (setLoaded(result), setError(null)))
      .catch((caught) => current && setError(caught))
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  }, [userId, generation]);

  const user = loaded?.user;
  return (
    <main id="main" class="page user-page">
      <header class="user-head">
        <h1>{user ? user.username : "User"}</h1>
        {user && <StatusBadge status={user.status} />}
        {user && <span class="revision">revision {user.revision}</span>}
      </header>
      <ErrorNotice error={error} />
      <div class="user-grid">
        <section aria-labelledby="now-heading" class="card">
          <h2 id="now-heading">Now</h2>
          <Busy busy={busy && !loaded}>
            <StateTable user={user ?? null} previous={undefined} />
          </Busy>
        </section>
        {loaded && <Actions key={`${loaded.user.revision}`} loaded={loaded} session={session} onDone={reload} />}
      </div>
      {loaded && (
        <TimeTravel
          key={`tt-${loaded.user.revision}`}
          userId={userId}
          latest={loaded.user.revision}
          events={loaded.events}
        />
      )}
      <Timeline events={loaded?.events ?? null} userId={userId} canMakeTests={session.role === "admin"} />
    </main>
  );
}
