import { Link } from "../components";
import type { Session } from "../session";

/** What a plain user sees on an admin page: a refusal, and the way to their own page. */
export function Refused({ session, what }: { session: Session; what: string }) {
  return (
    <main id="main" class="page">
      <h1>Not allowed</h1>
      <div class="notice error" role="alert">
        <strong>Admins only.</strong> You are signed in as {session.username}, who may not open {what}.
      </div>
      <p>
        <Link href={`/console/users/${session.userId}`}>Go to your own page</Link>
      </p>
    </main>
  );
}
