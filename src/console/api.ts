import type { PublicEvent } from "../domain/events";
import type { PublicUser } from "../domain/user";
import type { ErrorBody } from "../http/error-body";

/**
 * The API's shapes. User and event are the domain's own output types (what `publicUser` and
 * `redact` produce, and what the routes' zod schemas describe); the domain is pure, so the browser
 * build can type-check against it, while the route modules reach server-only code. The envelopes
 * around them are small and written out here as the contract states them.
 */
export type User = PublicUser;
export type StreamEvent = PublicEvent;
export interface UserList {
  next: string | null;
  previous: string | null;
  count: number;
  page: number;
  page_size: number;
  results: User[];
}
export interface EventsPage {
  results: StreamEvent[];
  next_revision: number | null;
}
export interface LoginResponse {
  access_token: string;
  token_type: "bearer";
  user: User;
}
export interface CommandResponse {
  message: string;
  revision: number;
  user_id?: string;
}
/** `POST /v1/users/{id}/revert/`: what it appended, or with `?dry_run=true` what it would. */
export interface RevertResponse {
  message: string;
  revision: number;
  events: string[];
  dry_run?: boolean;
  preview?: { event_type: string; data: Record<string, unknown> }[];
  conflicts?: { field: "username" | "email"; value: string }[];
}
/** The error envelope, the very type the Worker's errors are built from. */
export type ErrorEnvelope = ErrorBody;

/** A response that was not 2xx, with the contract's envelope when the server sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly envelope: ErrorEnvelope | null,
    readonly requestId: string | null,
  ) {
    super(envelope?.message ?? `The server answered ${status}`);
  }
}

/** What happens on a 401 from a signed-in call: the app signs out and remembers the page. */
let onUnauthorized: (() => void) | null = null;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

let token: string | null = null;
export function useToken(value: string | null): void {
  token = value;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** A body sent as it is (NDJSON), with its own Content-Type in `headers`. */
  raw?: string;
  headers?: Record<string, string>;
  /** Return the body as text (NDJSON exports) instead of parsing JSON. */
  text?: boolean;
}

export async function api<T>(path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: options.method ?? "GET", headers, body });
  } catch {
    throw new ApiError(0, null, null);
  }
  const requestId = res.headers.get("X-Request-Id");
  if (!res.ok) {
    const envelope = await res.json().then(asEnvelope, () => null);
    if (res.status === 401 && token && !path.startsWith("/v1/auth/")) onUnauthorized?.();
    throw new ApiError(res.status, envelope, requestId);
  }
  return (options.text ? await res.text() : await res.json()) as T;
}

function asEnvelope(value: unknown): ErrorEnvelope | null {
  if (typeof value !== "object" || value === null) return null;
  const { error, message, type, details } = value as Record<string, unknown>;
  if (typeof error !== "string" || typeof message !== "string" || typeof type !== "string") return null;
  return { error, message, type, details };
}

/** Every event of a user's stream, oldest first, through the paged audit trail. */
export async function allEvents(userId: string): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  let from: number | null = 1;
  while (from !== null) {
    const page: EventsPage = await api<EventsPage>(`/v1/users/${userId}/events/?from_revision=${from}&limit=500`);
    events.push(...page.results);
    from = page.next_revision;
  }
  return events;
}

/** `If-Match` for a command: apply only if the stream is still at the revision the page shows. */
export const ifMatch = (revision: number) => ({ "If-Match": `"${revision}"` });

/** A text field of a submitted form ("" when absent). */
export function formText(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === "string" ? value : "";
}
