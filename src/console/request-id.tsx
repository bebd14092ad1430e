import { Link } from "./components";

/** The console's page of a request's trail (`/console/requests/{id}`). */
export function requestPath(requestId: string): string {
  return `/console/requests/${encodeURIComponent(requestId)}`;
}

/**
 * A request id as the console shows it: linked to its trail for an admin (the trail is an admin
 * route), plain for anyone else; a dash when the event recorded none.
 */
export function RequestId({ id, link }: { id: string | null; link: boolean }) {
  if (id === null) return <code>—</code>;
  if (!link) return <code>{id}</code>;
  return (
    <Link href={requestPath(id)} class="request-link">
      <code>{id}</code>
    </Link>
  );
}
