import { useEffect, useState } from "hono/jsx/dom";
import {
  api,
  ApiError,
  formText,
  ifMatch,
  type CommandResponse,
  type EventsPage,
  type StreamEvent,
  type User,
} from "../api";
import { ErrorNotice, EventType, Time } from "../components";
import { actorName } from "../format";
import type { Session } from "../session";

/**
 * The commands, each sent with `If-Match` on the revision the page shows: if someone changed the
 * user meanwhile, the answer is a 412 and the page says who did what, and offers to reload.
 */
export function Actions({
  user,
  session,
  notice,
  onDone,
  onReload,
}: {
  user: User;
  session: Session;
  /** What the last command answered, shown until the next one. */
  notice: string | null;
  onDone: (revision: number, message: string) => void;
  onReload: () => void;
}) {
  const admin = session.role === "admin";
  const gone = user.status === "deleted" || user.status === "erased";
  const base = `/v1/users/${user.id}`;
  const context = { revision: user.revision, userId: user.id, onDone, onReload };

  return (
    <section class="card actions" aria-labelledby="actions-heading">
      <h2 id="actions-heading">Actions</h2>
      <div role="status">{notice && <p class="notice ok">{notice}</p>}</div>
      {!gone && (
        <Command
          title="Edit"
          method="PUT"
          path={`${base}/`}
          {...context}
          fields={[
            { name: "first_name", label: "First name", value: user.first_name ?? "" },
            { name: "last_name", label: "Last name", value: user.last_name ?? "" },
            { name: "email", label: "Email", value: user.email, type: "email" },
          ]}
          submit="Save changes"
        />
      )}
      {admin && user.status === "active" && (
        <Command title="Suspend" method="POST" path={`${base}/suspend/`} {...context} reason submit="Suspend" />
      )}
      {admin && user.status === "suspended" && (
        <Command
          title="Reactivate"
          method="POST"
          path={`${base}/reactivate/`}
          {...context}
          reason
          submit="Reactivate"
        />
      )}
      {admin && user.status === "deleted" && (
        <Command title="Restore" method="POST" path={`${base}/restore/`} {...context} reason submit="Restore" />
      )}
      {admin && !gone && (
        <Command title="Delete" method="DELETE" path={`${base}/`} {...context} reason submit="Delete" danger />
      )}
      {admin && !gone && (
        <Command
          title="Correct"
          method="POST"
          path={`/admin/users/${user.id}/corrections`}
          {...context}
          nest="changes"
          fields={[
            { name: "username", label: "Username", value: user.username },
            { name: "email", label: "Email", value: user.email, type: "email" },
            { name: "first_name", label: "First name", value: user.first_name ?? "" },
            { name: "last_name", label: "Last name", value: user.last_name ?? "" },
          ]}
          reason
          submit="Record correction"
        />
      )}
      {admin && user.status !== "erased" && (
        <Command
          title="Erase personal data"
          method="POST"
          path={`/admin/users/${user.id}/erase`}
          {...context}
          reason
          confirm={user.username}
          submit="Erase for good"
          danger
        />
      )}
      {admin && <Export userId={user.id} username={user.username} />}
    </section>
  );
}

/** The actions card while the user loads: the same frame and height, so nothing moves when it arrives. */
export function ActionsPlaceholder() {
  return (
    <section class="card actions loading" aria-labelledby="actions-heading" aria-busy="true">
      <h2 id="actions-heading">Actions</h2>
      <p class="placeholder">Loading…</p>
    </section>
  );
}

interface Field {
  name: string;
  label: string;
  value: string;
  type?: string;
}

interface CommandProps {
  title: string;
  method: string;
  path: string;
  revision: number;
  userId: string;
  onDone: (revision: number, message: string) => void;
  onReload: () => void;
  fields?: Field[];
  /** Send the changed fields under this key (`{changes: {...}, reason}`) instead of at the top. */
  nest?: string;
  reason?: boolean;
  /** Text the operator must type to enable the button (erasure). */
  confirm?: string;
  submit: string;
  danger?: boolean;
}

function Command(props: CommandProps) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [typed, setTyped] = useState("");
  const slug = props.title.toLowerCase().replace(/\W+/g, "-");

  const send = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const changed: Record<string, string> = {};
    for (const field of props.fields ?? []) {
      const value = formText(form, field.name).trim();
      if (value !== field.value) changed[field.name] = value;
    }
    const body: Record<string, unknown> = props.nest ? { [props.nest]: changed } : { ...changed };
    if (props.reason) body.reason = formText(form, "reason").trim();
    setBusy(true);
    setError(null);
    try {
      const res = await api<CommandResponse>(props.path, {
        method: props.method,
        body,
        headers: ifMatch(props.revision),
      });
      props.onDone(res.revision, `${res.message} (revision ${res.revision}).`);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <details class={`command ${props.danger ? "danger" : ""}`} data-command={slug}>
      <summary>{props.title}</summary>
      <form class="stack" onSubmit={(event: Event) => void send(event)}>
        {(props.fields ?? []).map((field) => (
          <label>
            {field.label}
            <input name={field.name} type={field.type ?? "text"} value={field.value} maxLength={254} />
          </label>
        ))}
        {props.reason && (
          <label>
            Reason (recorded in the event)
            <textarea name="reason" required maxLength={1000} rows={2} />
          </label>
        )}
        {props.confirm !== undefined && (
          <label>
            Type <strong>{props.confirm}</strong> to confirm
            <input
              name="confirm"
              autocomplete="off"
              onInput={(e: Event) => setTyped((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        <button
          type="submit"
          class={props.danger ? "danger" : ""}
          disabled={busy || (props.confirm !== undefined && typed !== props.confirm)}
        >
          {props.submit}
        </button>
      </form>
      {error instanceof ApiError && error.status === 412 ? (
        <Conflict userId={props.userId} seen={props.revision} error={error} onReload={props.onReload} />
      ) : (
        <ErrorNotice error={error} />
      )}
    </details>
  );
}

/** A 412: who changed the user since the page was loaded, and a way to start again from there. */
function Conflict({
  userId,
  seen,
  error,
  onReload,
}: {
  userId: string;
  seen: number;
  error: ApiError;
  onReload: () => void;
}) {
  const [changes, setChanges] = useState<StreamEvent[] | null>(null);
  useEffect(() => {
    api<EventsPage>(`/v1/users/${userId}/events/?from_revision=${seen + 1}&limit=20`)
      .then((page) => setChanges(page.results))
      .catch(() => setChanges([]));
  }, [userId, seen]);
  return (
    <div class="notice error conflict" role="alert">
      <strong>Changed meanwhile.</strong> This page shows revision {seen}; the user is now at revision{" "}
      {String((error.envelope?.details as { current_revision?: number } | undefined)?.current_revision ?? "?")}. Nothing
      was saved.
      <ul>
        {(changes ?? []).map((event) => (
          <li>
            <EventType type={event.event_type} /> by <strong>{actorName(event.metadata)}</strong> at{" "}
            <Time iso={event.timestamp} />
            {event.metadata.reason ? ` (${event.metadata.reason})` : ""}
          </li>
        ))}
      </ul>
      <button type="button" onClick={onReload}>
        Reload the user
      </button>
    </div>
  );
}

/** The stream as NDJSON, downloaded as a file (a fixture for a test or a bug report). */
function Export({ userId, username }: { userId: string; username: string }) {
  const [error, setError] = useState<unknown>(null);
  const download = async () => {
    try {
      const ndjson = await api<string>(`/admin/users/${userId}/stream`, { text: true });
      const url = URL.createObjectURL(new Blob([ndjson], { type: "application/x-ndjson" }));
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = `${username}-${userId}.ndjson`;
      anchor.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <div class="export">
      <button type="button" class="secondary" onClick={() => void download()}>
        Export the stream (NDJSON)
      </button>
      <ErrorNotice error={error} />
    </div>
  );
}
