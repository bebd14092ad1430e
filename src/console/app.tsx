import { useEffect, useState } from "hono/jsx/dom";
import { useToken, whenUnauthorized } from "./api";
import { Link } from "./components";
import { AuditPage } from "./pages/audit";
import { OperationsPage } from "./pages/operations";
import { Refused } from "./pages/refused";
import { RequestPage } from "./pages/request";
import { SignIn } from "./pages/sign-in";
import { SubscriptionPage } from "./pages/subscription";
import { SubscriptionsPage } from "./pages/subscriptions";
import { UserPage } from "./pages/user";
import { UsersPage } from "./pages/users";
import { navigate, useLocation } from "./router";
import { clearSession, loadSession, rememberPage, saveSession, takeRememberedPage, type Session } from "./session";

const ADMIN_PAGES = [
  { path: "/console/users", label: "Users" },
  { path: "/console/audit", label: "Audit" },
  { path: "/console/operations", label: "Operations" },
  { path: "/console/subscriptions", label: "Subscriptions" },
];

export function App() {
  const url = useLocation();
  const [session, setSession] = useState<Session | null>(() => loadSession());
  useToken(session?.token ?? null);

  const signOut = (expired: boolean) => {
    if (expired) rememberPage(location.pathname + location.search);
    clearSession();
    useToken(null);
    setSession(null);
    navigate(expired ? "/console/sign-in?expired=1" : "/console/sign-in", true);
  };

  // An expired or revoked token (any 401) returns to sign-in and remembers the page.
  whenUnauthorized(() => signOut(true));
  useEffect(() => {
    if (!session) return;
    const timer = setTimeout(() => signOut(true), Math.max(0, session.expiresAt - Date.now()));
    return () => clearTimeout(timer);
  }, [session]);

  const path = url.pathname.replace(/\/+$/, "") || "/console";
  useEffect(() => {
    if (!session && path !== "/console/sign-in") {
      if (path !== "/console") rememberPage(url.pathname + url.search);
      navigate("/console/sign-in", true);
    } else if (session && (path === "/console" || path === "/console/sign-in")) {
      navigate(session.role === "admin" ? "/console/users" : `/console/users/${session.userId}`, true);
    }
  }, [path, session]);

  if (!session) {
    return (
      <SignIn
        expired={url.searchParams.get("expired") === "1"}
        onSignedIn={(next) => {
          saveSession(next);
          useToken(next.token);
          setSession(next);
          navigate(takeRememberedPage() ?? "/console", true);
        }}
      />
    );
  }

  const isAdmin = session.role === "admin";
  const userMatch = /^\/console\/users\/([^/]+)$/.exec(path);
  const subscriptionMatch = /^\/console\/subscriptions\/([^/]+)$/.exec(path);
  const requestMatch = /^\/console\/requests\/([^/]+)$/.exec(path);
  let page;
  if (userMatch?.[1]) {
    const id = decodeURIComponent(userMatch[1]);
    page =
      isAdmin || id === session.userId ? (
        <UserPage key={id} userId={id} session={session} onRevoked={() => signOut(true)} />
      ) : (
        <Refused session={session} what="another user's page" />
      );
  } else if (path === "/console/users") {
    page = isAdmin ? <UsersPage url={url} /> : <Refused session={session} what="the users page" />;
  } else if (path === "/console/audit") {
    page = isAdmin ? <AuditPage url={url} /> : <Refused session={session} what="the audit page" />;
  } else if (path === "/console/operations") {
    page = isAdmin ? <OperationsPage /> : <Refused session={session} what="the operations page" />;
  } else if (path === "/console/subscriptions") {
    page = isAdmin ? <SubscriptionsPage /> : <Refused session={session} what="the subscriptions page" />;
  } else if (subscriptionMatch?.[1]) {
    const id = decodeURIComponent(subscriptionMatch[1]);
    page = isAdmin ? <SubscriptionPage key={id} id={id} /> : <Refused session={session} what="a subscription's page" />;
  } else if (requestMatch?.[1]) {
    const id = decodeURIComponent(requestMatch[1]);
    page = isAdmin ? <RequestPage key={id} id={id} /> : <Refused session={session} what="a request's trail" />;
  } else {
    page = (
      <main id="main" class="page">
        <h1>Page not found</h1>
        <p>
          <Link href="/console">Back to the console</Link>
        </p>
      </main>
    );
  }

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/console" class="brand">
          User console
        </Link>
        <nav aria-label="Main">
          <ul>
            {(isAdmin ? ADMIN_PAGES : [{ path: `/console/users/${session.userId}`, label: "My account" }]).map(
              (item) => (
                <li>
                  <a
                    href={item.path}
                    aria-current={path === item.path ? "page" : undefined}
                    onClick={(event: MouseEvent) => {
                      event.preventDefault();
                      navigate(item.path);
                    }}
                  >
                    {item.label}
                  </a>
                </li>
              ),
            )}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.username} <span class="role">({session.role})</span>
          </span>
          <button type="button" class="secondary" onClick={() => signOut(false)}>
            Sign out
          </button>
        </div>
      </header>
      {page}
    </div>
  );
}
