import { useEffect, useState } from "hono/jsx/dom";
import { api, formText, type UserList } from "../api";
import { Busy, ErrorNotice, Link, StatusBadge, Time } from "../components";
import { fromLocalInput, toLocalInput } from "../format";
import { navigate } from "../router";
import { UsersAsOfList } from "./users-as-of";

const PAGE_SIZE = 20;
const STATUSES = ["active", "suspended", "deleted", "all"] as const;
/** As of an instant an erased user is one of its own: its intervals read `[erased]`. */
const AS_OF_STATUSES = ["all", "active", "suspended", "deleted", "erased"] as const;

/**
 * Search by username or email, filtered by status; with an instant ("as of"), the users as they
 * were then (`UsersAsOfList`). The query lives in the URL.
 */
export function UsersPage({ url }: { url: URL }) {
  const params = url.searchParams;
  const username = params.get("username") ?? "";
  const email = params.get("email") ?? "";
  const asOf = params.get("as_of") ?? "";
  const statuses: readonly string[] = asOf ? AS_OF_STATUSES : STATUSES;
  const status = statuses.find((s) => s === params.get("status")) ?? (asOf ? "all" : "active");
  const page = Math.max(1, Number(params.get("page")) || 1);

  const [list, setList] = useState<UserList | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(true);
  // The search and page the shown list was loaded for: a new page or search changes the URL at
  // once, the fetch follows, and until it lands the rows shown are still the last list's.
  const asked = [username, email, status, page].join("\n");
  const [shown, setShown] = useState<string | null>(null);
  const loading = busy || shown !== asked;

  useEffect(() => {
    if (asOf) return;
    let current = true;
    setBusy(true);
    const query = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE), status });
    if (username) query.set("username", username);
    if (email) query.set("email", email);
    api<UserList>(`/v1/users/?${query}`)
      .then((result) => current && (setList(result), setError(null)))
      .catch((caught) => current && setError(caught))
      .finally(() => current && (setShown(asked), setBusy(false)));
    return () => {
      current = false;
    };
  }, [username, email, status, page, asOf]);

  const go = (changes: Record<string, string | number>) => {
    const next = new URLSearchParams({ username, email, status, page: String(page), as_of: asOf });
    for (const [key, value] of Object.entries(changes)) next.set(key, String(value));
    for (const key of [...next.keys()]) if (!next.get(key)) next.delete(key);
    navigate(`/console/users?${next}`);
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const instant = formText(form, "as_of");
    go({
      username: formText(form, "username").trim(),
      email: formText(form, "email").trim(),
      status: formText(form, "status"),
      page: 1,
      as_of: instant ? (fromLocalInput(instant) ?? "") : "",
    });
  };

  const pages = list ? Math.max(1, Math.ceil(list.count / PAGE_SIZE)) : 1;
  const first = list && list.count > 0 ? (page - 1) * PAGE_SIZE + 1 : 0;
  const last = list ? Math.min(list.count, page * PAGE_SIZE) : 0;

  // The live list (the read model as it is now), shown when no instant is asked for.
  const liveList = (
    <>
      <ErrorNotice error={error} />
      <p class="count" role="status" aria-live="polite">
        {list && !loading
          ? `${list.count} ${list.count === 1 ? "user" : "users"} · showing ${first}–${last}`
          : "Searching…"}
      </p>
      <Busy busy={loading} class="table-wrap">
        <table class="users">
          <caption class="visually-hidden">Users matching the search</caption>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Email</th>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Last change</th>
            </tr>
          </thead>
          <tbody>
            {(list?.results ?? []).map((user) => (
              <tr class={`row-${user.status}`}>
                <td data-label="Username">
                  <Link href={`/console/users/${user.id}`}>{user.username}</Link>
                  {user.role === "admin" && <span class="badge role-admin">admin</span>}
                </td>
                <td data-label="Email">{user.email}</td>
                <td data-label="Name">
                  {user.first_name} {user.last_name}
                </td>
                <td data-label="Status">
                  <StatusBadge status={user.status} />
                </td>
                <td data-label="Last change">
                  <Time iso={user.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list && list.count === 0 && <p class="empty">No user matches.</p>}
      </Busy>
      <nav class="pager" aria-label="Pages">
        <button type="button" class="secondary" disabled={page <= 1} onClick={() => go({ page: page - 1 })}>
          Previous
        </button>
        <span>
          Page {page} of {pages}
        </span>
        <button type="button" class="secondary" disabled={page >= pages} onClick={() => go({ page: page + 1 })}>
          Next
        </button>
      </nav>
    </>
  );

  return (
    <main id="main" class="page">
      <h1>Users</h1>
      <form class="search" role="search" onSubmit={submit} key={`${username}|${email}|${status}|${asOf}`}>
        <label>
          {asOf ? "Username then (exact)" : "Username contains"}
          <input name="username" value={username} autocomplete="off" maxLength={40} />
        </label>
        <label>
          {asOf ? "Email then (exact)" : "Email contains"}
          <input name="email" value={email} autocomplete="off" maxLength={40} />
        </label>
        <label>
          Status
          <select name="status">
            {statuses.map((s) => (
              <option value={s} selected={s === status}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          As of (your local time; empty: now)
          <input type="datetime-local" name="as_of" step="0.001" value={asOf ? toLocalInput(asOf) : ""} />
        </label>
        <button type="submit">Search</button>
        {asOf && (
          <button
            type="button"
            class="secondary"
            onClick={() => go({ as_of: "", status: "active", page: 1, username: "", email: "" })}
          >
            Now
          </button>
        )}
      </form>
      {asOf ? <UsersAsOfList asOf={asOf} status={status} username={username} email={email} /> : liveList}
    </main>
  );
}
