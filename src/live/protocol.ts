/**
 * The live-events wire protocol, shared by the Worker (which authorises) and the objects that hold
 * the sockets. Everything a client can observe is here: close codes, limits, frames.
 */

/** Close codes a watcher can receive from the service (4000-4999: the application's range). */
export const CLOSE = {
  /** The watcher's own user changed password, or was suspended, deleted or erased. */
  revoked: { code: 4401, reason: "credentials revoked" },
  /** The client did not read: more than MAX_QUEUED_BYTES waited to be sent to it. */
  tooSlow: { code: 4408, reason: "too slow" },
  /** The watched user was erased: every watcher of the stream is closed. */
  erased: { code: 4410, reason: "stream erased" },
  /** The watched stream (or the admin feed) already has MAX_WATCHERS sockets. */
  tooManyWatchers: { code: 4429, reason: "too many watchers" },
  /** The client sent something other than "ping": the socket is one-way. */
  unexpectedMessage: { code: 1003, reason: "only ping is accepted" },
  /** The watcher's own object could not confirm the credential; reconnecting may work. */
  unavailable: { code: 1011, reason: "try again" },
} as const;

export const LIMITS = {
  /** Sockets per watched user, and on the admin feed. */
  maxWatchers: 200,
  /**
   * Bytes queued to one socket before it is closed: sent but not yet taken by the network where the
   * runtime reports it, else sent since the client's last `ping` (see `pingEveryBytes`).
   */
  maxQueuedBytes: 1024 * 1024,
  /**
   * A client sends `ping` each time it has read this many bytes since its last one: that is how the
   * object knows it still reads (the runtime does not report a socket's backlog). Below
   * `catchUpHighWater`, so a reading client's catch-up never waits.
   */
  pingEveryBytes: 128 * 1024,
  /** A catch-up sends its next page only while less than this waits in the socket's queue. */
  catchUpHighWater: 256 * 1024,
  /** Events read and sent per catch-up page. */
  catchUpPage: 100,
  /** A catch-up that cannot send anything for this long closes the socket as too slow. */
  catchUpStallMs: 10_000,
  /** Lifetime of a ticket from `POST /v1/auth/ticket/`. */
  ticketSeconds: 30,
  /** Unused tickets a user may hold; issuing more drops the oldest. */
  maxTicketsPerUser: 20,
} as const;

/** The auto-response pair: answered by the runtime without waking a hibernated object. */
export const PING = "ping";
export const PONG = "pong";

export interface CaughtUpFrame {
  type: "caught_up";
  revision: number;
}

/**
 * What the Worker tells the object about an authorised watcher, in the WATCH_HEADER of the
 * internal upgrade request (never from the client: the Worker builds that request itself).
 */
export interface WatchRequest {
  /** The user id of whoever watches (self or an admin). */
  watcher: string;
  /** The watcher's revision when its credential was accepted: revocations after it close the socket. */
  authRevision: number;
  /** First revision of the catch-up; null: no catch-up, live events only. */
  fromRevision: number | null;
}

export const WATCH_HEADER = "x-live-watch";

/** Where an admin is watching, as the watcher's own object records it (to close it on revocation). */
export type WatchTarget = `user:${string}` | `feed:${string}`;
