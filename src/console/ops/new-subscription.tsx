import { useState } from "hono/jsx/dom";
import { EVENT_TYPES, type CreateSubscriptionBody, type CreatedSubscription } from "../admin-api";
import { api, formText } from "../api";
import { ErrorNotice, Link } from "../components";
import { eventLabel } from "../format";

/**
 * `POST /admin/subscriptions` from a form: the URL, what to send, where to start. The answer's
 * secret is shown once, here, until the operator dismisses it; no later answer carries it.
 */
export function NewSubscription({ onCreated }: { onCreated: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<CreatedSubscription | null>(null);
  const [start, setStart] = useState<"end" | "all" | "position">("end");

  const submit = async (event: Event) => {
    event.preventDefault();
    const formElement = event.target as HTMLFormElement;
    const form = new FormData(formElement);
    const types = form.getAll("event_types").filter((value): value is string => typeof value === "string");
    const body: CreateSubscriptionBody = { url: formText(form, "url").trim() };
    const description = formText(form, "description").trim();
    if (description) body.description = description;
    if (types.length > 0) body.event_types = types as CreateSubscriptionBody["event_types"];
    if (start === "all") body.from_position = 0;
    if (start === "position") body.from_position = Number(formText(form, "from_position"));
    setBusy(true);
    setError(null);
    try {
      const answer = await api<CreatedSubscription>("/admin/subscriptions", { method: "POST", body });
      setCreated(answer);
      formElement.reset();
      setStart("end");
      onCreated();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card new-subscription" aria-labelledby="new-sub-heading">
      <h2 id="new-sub-heading">New subscription</h2>
      <form class="stack" onSubmit={(event: Event) => void submit(event)}>
        <label>
          URL (https, or a host the service allows over http)
          <input name="url" type="url" required maxLength={2048} placeholder="https://hooks.example.com/users" />
        </label>
        <label>
          Description
          <input name="description" maxLength={500} autocomplete="off" />
        </label>
        <fieldset class="event-types">
          <legend>Events (none ticked: every user event)</legend>
          {EVENT_TYPES.map((type) => (
            <label class="check">
              <input type="checkbox" name="event_types" value={type} /> {eventLabel(type)}
            </label>
          ))}
        </fieldset>
        <fieldset class="start">
          <legend>Start</legend>
          <label class="check">
            <input type="radio" name="start" checked={start === "end"} onChange={() => setStart("end")} /> with the next
            event (the feed's end now)
          </label>
          <label class="check">
            <input type="radio" name="start" checked={start === "all"} onChange={() => setStart("all")} /> from the
            beginning (every event of the feed)
          </label>
          <label class="check">
            <input type="radio" name="start" checked={start === "position"} onChange={() => setStart("position")} />{" "}
            after position
            <input
              name="from_position"
              type="number"
              min={0}
              step={1}
              aria-label="Start after position"
              required={start === "position"}
              disabled={start !== "position"}
            />
          </label>
        </fieldset>
        <button type="submit" disabled={busy}>
          Create subscription
        </button>
      </form>
      <ErrorNotice error={error} />
      <div role="status">
        {created && (
          <div class="notice ok secret-notice">
            <p>
              <strong>Subscription created.</strong> Its signing secret is shown this once: give it to the receiver now.
            </p>
            <label>
              Signing secret
              <input class="secret" readOnly value={created.secret} onFocus={selectAll} />
            </label>
            <p class="row">
              <Link href={`/console/subscriptions/${created.id}`}>Open the subscription</Link>
              <button type="button" class="secondary" onClick={() => setCreated(null)}>
                I have stored the secret
              </button>
            </p>
          </div>
        )}
      </div>
    </section>
  );
}

const selectAll = (event: Event) => (event.target as HTMLInputElement).select();
