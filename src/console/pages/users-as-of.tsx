import { useEffect, useState } from "hono/jsx/dom";
import { api } from "../api";
import type { UsersAsOfPage } from "../admin-api";
import { Busy, ErrorNotice, Link, StatusBadge, Time } from "../components";

const LIMIT = 50;

/**
 * The users as they were at `asOf` (`GET /admin/users/?as_of=`): the username, email, status and
 * role each had then, and since when. Username and email match exactly (case-insensitive), unlike
 * the live list's "contains"; more pages load on demand by cursor.
 */
export function UsersAsOfList(props: { asOf: string; status: string; username: string; email: string }) {
  const { asOf, status, username, email } = props;
  const [rows, setRows] = useState<UsersAsOfPage["results"]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(true);

  const load = (cursor: string | null, append: boolean) => {
    let current = true;
    setBusy(true);
    const query = new URLSearchParams({ as_of: asOf, limit: String(LIMIT) });
    if (status !== "all") query.set("status", status);
    if (username) query.set("username", username);
    if (email) query.set("email", email);
    if (cursor) query.set("cursor", cursor);
    api<UsersAsOfPage>(`/admin/users/?${query}`)
      .then((page) => {
        if (!current) return;
        setRows((before) => (append ? [...before, ...page.results] : page.results));
        setNext(page.next_cursor);
        setError(null);
      })
      .catch((caught) => current && setError(caught))
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  };
  useEffect(() => load(null, false), [asOf, status, username, email]);

  return (
    <section class="as-of" aria-label="Users as of">
      <ErrorNotice error={error} />
      <p class="count" role="status" aria-live="polite">
        {busy ? "Searching…" : `${rows.length}${next ? "+" : ""} ${rows.length === 1 ? "user" : "users"} as of `}
        {!busy && <Time iso={asOf} />}
      </p>
      <Busy busy={busy} class="table-wrap">
        <table class="users as-of">
          <caption class="visually-hidden">Users as they were at the chosen instant</caption>
          <thead>
            <tr>
              <th scope="col">Username then</th>
              <th scope="col">Email then</th>
              <th scope="col">Status then</th>
              <th scope="col">Since</th>
              <th scope="col">Until</th>
              <th scope="col">Revision</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((user) => (
              <tr class={`row-${user.status}`} data-user={user.id}>
                <td data-label="Username then">
                  <Link href={`/console/users/${user.id}`}>{user.username}</Link>
                  {user.role === "admin" && <span class="badge role-admin">admin</span>}
                </td>
                <td data-label="Email then">{user.email}</td>
                <td data-label="Status then">
                  <StatusBadge status={user.status} />
                </td>
                <td data-label="Since">
                  <Time iso={user.valid_from} />
                </td>
                <td data-label="Until">{user.valid_to ? <Time iso={user.valid_to} /> : "now"}</td>
                <td data-label="Revision">{user.revision}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!busy && rows.length === 0 && <p class="empty">No user matches at that instant.</p>}
      </Busy>
      {next && (
        <nav class="pager" aria-label="More">
          <button type="button" class="secondary" disabled={busy} onClick={() => load(next, true)}>
            More
          </button>
        </nav>
      )}
    </section>
  );
}
