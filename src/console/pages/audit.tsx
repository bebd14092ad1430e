import { useEffect, useState } from "hono/jsx/dom";
import { EVENT_TYPES, type AuditPage as Page } from "../admin-api";
import { api, formText } from "../api";
import { Busy, ColumnHeads, ErrorNotice, EventType, Link, Time } from "../components";
import { eventLabel, fromLocalInput, toLocalInput } from "../format";
import { RequestId } from "../request-id";
import { navigate } from "../router";

const PAGE_SIZE = 25;
const FILTERS = ["actor", "event_type", "username", "from", "to"] as const;
type Filter = (typeof FILTERS)[number];

/**
 * Who did what, across every user (`GET /admin/audit/`, newest first): filtered by actor, event
 * type, time range and the user's name as of the event. The filters and the page's cursor live in
 * the URL; the cursors of the pages before are kept here, so "Newer" goes back without a count.
 */
export function AuditPage({ url }: { url: URL }) {
  const params = url.searchParams;
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""])) as Record<Filter, string>;
  const cursor = params.get("cursor") ?? "";
  const key = FILTERS.map((name) => filters[name]).join("|");

  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(true);
  // The filters and cursor the shown page was loaded for. "Older", "Newer" and "Filter" change
  // them (and the count of pages before) at once, the fetch follows: until it lands, the rows
  // shown are still the last page's, and must not be described as the new one.
  const asked = `${key}\n${cursor}`;
  const [shown, setShown] = useState<string | null>(null);
  const loading = busy || shown !== asked;
  const [newer, setNewer] = useState<string[]>([]);

  useEffect(() => {
    let current = true;
    setBusy(true);
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const name of FILTERS) if (filters[name]) query.set(name, filters[name]);
    if (cursor) query.set("cursor", cursor);
    api<Page>(`/admin/audit/?${query}`)
      .then((result) => current && (setPage(result), setError(null)))
      .catch((caught) => current && (setPage(null), setError(caught)))
      .finally(() => current && (setShown(asked), setBusy(false)));
    return () => {
      current = false;
    };
  }, [key, cursor]);

  const go = (next: Record<Filter, string>, at = "") => {
    const query = new URLSearchParams();
    for (const name of FILTERS) if (next[name]) query.set(name, next[name]);
    if (at) query.set("cursor", at);
    navigate(`/console/audit${query.size ? `?${query}` : ""}`);
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const instant = (name: string) => fromLocalInput(formText(form, name)) ?? "";
    setNewer([]);
    go({
      actor: formText(form, "actor").trim(),
      event_type: formText(form, "event_type"),
      username: formText(form, "username").trim(),
      from: instant("from"),
      to: instant("to"),
    });
  };

  const rows = page?.results ?? [];
  const first = newer.length * PAGE_SIZE + 1;
  return (
    <main id="main" class="page">
      <h1>Audit</h1>
      <form class="search audit-filters" role="search" onSubmit={submit} key={key}>
        <label>
          Actor (username or id)
          <input name="actor" value={filters.actor} autocomplete="off" maxLength={150} />
        </label>
        <label>
          Event type
          <select name="event_type">
            <option value="">all types</option>
            {EVENT_TYPES.map((type) => (
              <option value={type} selected={type === filters.event_type}>
                {eventLabel(type)}
              </option>
            ))}
          </select>
        </label>
        <label>
          User (username then)
          <input name="username" value={filters.username} autocomplete="off" maxLength={150} />
        </label>
        <label>
          From (your local time)
          <input name="from" type="datetime-local" step="1" value={filters.from && toLocalInput(filters.from)} />
        </label>
        <label>
          To (your local time)
          <input name="to" type="datetime-local" step="1" value={filters.to && toLocalInput(filters.to)} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNotice error={error} />
      <p class="count" role="status" aria-live="polite">
        {page && !loading
          ? rows.length === 0
            ? "No entry matches."
            : `Entries ${first}–${first + rows.length - 1}${page.next_cursor ? ", more below" : ""}, newest first`
          : "Loading…"}
      </p>
      <Busy busy={loading} class="table-wrap">
        <table class="stacked audit">
          <caption class="visually-hidden">Audit entries, newest first</caption>
          <ColumnHeads names={["When", "User", "Event", "By", "Why", "Request id"]} />
          <tbody>
            {rows.map((entry) => (
              <tr data-event={entry.event_id}>
                <td data-label="When">
                  <Time iso={entry.timestamp} />
                </td>
                <td data-label="User">
                  <Link href={`/console/users/${entry.user_id}`}>{entry.username}</Link>{" "}
                  <span class="rev">#{entry.revision}</span>
                </td>
                <td data-label="Event">
                  <EventType type={entry.event_type} />
                </td>
                <td data-label="By">
                  {entry.actor_username ?? <span class="none">no actor</span>}
                  {entry.import_request_id !== null && (
                    <>
                      {" "}
                      <span class="badge imported" title={`brought by import ${entry.import_request_id}`}>
                        imported
                      </span>
                    </>
                  )}
                </td>
                <td data-label="Why">{entry.reason ?? <span class="none">—</span>}</td>
                <td data-label="Request id">
                  <RequestId id={entry.request_id} link />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Busy>
      <nav class="pager" aria-label="Pages">
        <button
          type="button"
          class="secondary"
          disabled={!cursor}
          onClick={() => {
            const previous = newer.slice(0, -1);
            go(filters, newer[newer.length - 1] ?? "");
            setNewer(previous);
          }}
        >
          Newer
        </button>
        <button
          type="button"
          class="secondary"
          disabled={!page?.next_cursor}
          onClick={() => {
            if (!page?.next_cursor) return;
            setNewer([...newer, cursor]);
            go(filters, page.next_cursor);
          }}
        >
          Older
        </button>
      </nav>
    </main>
  );
}
