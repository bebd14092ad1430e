/** Times as people read them: local time with its zone, and the stored UTC instant. */
export function localTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
  });
}

export function utcTime(iso: string): string {
  return `${iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "")} UTC`;
}

/** `datetime-local` value (local wall-clock time, to the millisecond) for an ISO instant, and back. */
export function toLocalInput(iso: string): string {
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().replace("Z", "");
}

export function fromLocalInput(value: string): string | null {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export function eventLabel(type: string): string {
  return type
    .toLowerCase()
    .replace(/^user_/, "")
    .replace(/_/g, " ");
}

/** Who did it: the acting user, or what brought the event in when nobody acted (an import, the system). */
export function actorName(metadata: { actor_username: string | null; import_request_id?: string | undefined }): string {
  if (metadata.actor_username) return metadata.actor_username;
  return metadata.import_request_id ? "imported (no actor recorded)" : "the system";
}

/** A duration in milliseconds as people read it: "850 ms", "12.4 s", "3 min 05 s", "2 h 10 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
