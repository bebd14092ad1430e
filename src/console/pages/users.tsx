import { useEffect, useState } from "hono/jsx/dom";
import { api, formText, type UserList } from "../api";
import { Busy, ErrorNotice, Link, StatusBadge, Time } from "../components";
import { navigate } from "../router";

const PAGE_SIZE = 20;
const STATUSES = ["active", "suspended", "deleted", "all"] as const;

/** Search by username or email, filtered by status; the query lives in the URL. */
export function UsersPage({ url }: { url: URL }) {
  const params = url.searchParams;
  const username = params.get("username") ?? "";
  const email = params.get("email") ?? "";
  const status = STATUSES.find((s) => s === params.get("status")) ?? "active";
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
  }, [username, email, status, page]);

  const go = (changes: Record<string, string | number>) => {
    const next = new URLSearchParams({ username, email, status, page: String(page) });
    for (const [key, value] of Object.entries(changes)) next.set(key, String(value));
    for (const key of [...next.keys()]) if (!next.get(key)) next.delete(key);
    navigate(`/console/users?${next}`);
  };

  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    go({
      username: formText(form, "username").trim(),
      email: formText(form, "email").trim(),
      status: formText(form, "status") || "active",
      page: 1,
    });
  };

  const pages = list ? Math.max(1, Math.ceil(list.count / PAGE_SIZE)) : 1;
  const first = list && list.count > 0 ? (page - 1) * PAGE_SIZE + 1 : 0;
  const last = list ? Math.min(list.count, page * PAGE_SIZE) : 0;

  return (
    <main id="main" class="page">
      <h1>Users</h1>
      <form class="search" role="search" onSubmit={submit} key={`${username}|${email}|${status}`}>
        <label>
          Username contains
          <input name="username" value={username} autocomplete="off" maxLength={40} />
        </label>
        <label>
          Email contains
          <input name="email" value={email} autocomplete="off" maxLength={40} />
        </label>
        <label>
          Status
          <select name="status">
            {STATUSES.map((s) => (
              <option value={s} selected={s === status}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
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
    </main>
  );
}
