import { useState } from "hono/jsx/dom";
import type { DeadLetter, DeadLetterPage, DeadLetterState } from "../admin-api";
import { api } from "../api";
import { Busy, ErrorNotice, Link, Time } from "../components";
import type { Polled } from "./poll";

export const LETTER_STATES = ["open", "redriven", "resolved", "all"] as const;
export type LetterFilter = (typeof LETTER_STATES)[number];

/** The events the projector gave up on: each with its error, its history, its body, and a redrive. */
export function DeadLetters({
  letters,
  state,
  onState,
  onChanged,
}: {
  letters: Polled<DeadLetterPage>;
  state: LetterFilter;
  onState: (state: LetterFilter) => void;
  /** After a redrive: ask the server again now. */
  onChanged: () => void;
}) {
  const rows = letters.data?.results ?? [];
  return (
    <section class="card dead-letters" aria-labelledby="dl-heading">
      <div class="timeline-head">
        <h2 id="dl-heading">Dead letters</h2>
        <label>
          State
          <select onChange={(e: Event) => onState((e.target as HTMLSelectElement).value as LetterFilter)}>
            {LETTER_STATES.map((s) => (
              <option value={s} selected={s === state}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={letters.error} />
      <Busy busy={letters.data === null} class="letters">
        {letters.data !== null && rows.length === 0 && (
          <p class="empty">
            {state === "open" ? "No open dead letter: the projector has given up on nothing." : "None."}
          </p>
        )}
        <ol class="letter-list">
          {rows.map((letter) => (
            <Letter key={letter.id} letter={letter} onChanged={onChanged} />
          ))}
        </ol>
      </Busy>
    </section>
  );
}

const STATE_TEXT: Record<DeadLetterState, string> = {
  open: "open",
  redriven: "re-driven, waiting for the projector",
  resolved: "resolved",
};

function Letter({ letter, onChanged }: { letter: DeadLetter; onChanged: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const redrive = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ message: string }>(`/admin/dead-letters/${letter.id}/redrive`, { method: "POST" });
      setMessage(res.message);
      onChanged();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class={`letter state-${letter.state}`} data-letter={letter.id}>
      <div class="letter-head">
        <strong>Letter {letter.id}</strong>
        <span class={`badge letter-${letter.state}`}>{STATE_TEXT[letter.state]}</span>
        <span>
          {letter.aggregate_id ? (
            <>
              user <Link href={`/console/users/${letter.aggregate_id}`}>{letter.aggregate_id}</Link>
              {letter.revision !== null && <> at revision {letter.revision}</>}
            </>
          ) : (
            "a message that names no user"
          )}
        </span>
        <span>projection {letter.projection ?? "none (it did not reach one)"}</span>
      </div>
      <pre class="error-text letter-error" aria-label="Error" tabIndex={0}>
        {letter.error}
      </pre>
      <dl class="event-meta">
        <div>
          <dt>Last failed</dt>
          <dd>
            <Time iso={letter.failed_at} />
          </dd>
        </div>
        <div>
          <dt>Given up</dt>
          <dd>
            {letter.exhaustions} {letter.exhaustions === 1 ? "time" : "times"}, {letter.attempts}{" "}
            {letter.attempts === 1 ? "delivery" : "deliveries"}
          </dd>
        </div>
        {letter.redriven_at && (
          <div>
            <dt>Re-driven</dt>
            <dd>
              <Time iso={letter.redriven_at} />
            </dd>
          </div>
        )}
        {letter.resolved_at && (
          <div>
            <dt>Resolved</dt>
            <dd>
              <Time iso={letter.resolved_at} />
            </dd>
          </div>
        )}
      </dl>
      <details class="history">
        <summary>History ({letter.history.length})</summary>
        <ol>
          {letter.history.map((failure) => (
            <li>
              <Time iso={failure.failed_at} /> after {failure.attempts}{" "}
              {failure.attempts === 1 ? "delivery" : "deliveries"}:
              <pre class="error-text letter-error">{failure.error}</pre>
            </li>
          ))}
        </ol>
      </details>
      <details class="body">
        <summary>Message body</summary>
        <pre class="code" tabIndex={0}>
          <code>{pretty(letter.body)}</code>
        </pre>
      </details>
      <div class="row">
        <button
          type="button"
          onClick={() => void redrive()}
          disabled={busy || letter.state === "resolved"}
          aria-describedby={`redrive-${letter.id}`}
        >
          Redrive
        </button>
        <span id={`redrive-${letter.id}`} class="muted">
          sends the message back through the projector
        </span>
      </div>
      <div role="status">{message && <p class="notice ok">{message}.</p>}</div>
      <ErrorNotice error={error} />
    </li>
  );
}

/** The stored body (JSON text) indented for reading; as it is if it does not parse. */
function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
