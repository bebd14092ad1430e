import { useState } from "hono/jsx/dom";
import { api, formText, type LoginResponse } from "../api";
import { ErrorNotice } from "../components";
import { sessionFromToken, type Session } from "../session";

export function SignIn({ expired, onSignedIn }: { expired: boolean; onSignedIn: (session: Session) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      const body = { username: formText(form, "username"), password: formText(form, "password") };
      const res = await api<LoginResponse>("/v1/auth/login/", { method: "POST", body });
      const session = sessionFromToken(res.access_token);
      if (!session) throw new Error("The service returned a token the console cannot read");
      onSignedIn(session);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in">
      <h1>Sign in to the user console</h1>
      {expired && (
        <p class="notice info" role="status">
          Your session has ended. Sign in again to return to the page you were on.
        </p>
      )}
      <form onSubmit={(event: Event) => void submit(event)} class="stack">
        <label>
          Username
          <input name="username" autocomplete="username" required autofocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <ErrorNotice error={error} />
    </main>
  );
}
