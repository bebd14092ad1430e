import type { PublicEvent } from "../domain/events";
import { CLOSE, LIMITS, type CaughtUpFrame, type WatchRequest } from "./protocol";

/**
 * The watchers' sockets of one object, accepted through the hibernation API: they cost nothing
 * while idle, and survive the object's eviction. Each socket's progress lives in its attachment,
 * which the runtime keeps across hibernation:
 * - "confirming": accepted, waiting for the watcher's own object to confirm the credential;
 * - "catching-up": sending stored events page by page after `cursor` (saved with each page);
 * - "live": at the head; every commit is sent to it right after it commits.
 *
 * No gap and no duplicate: a socket turns live in the same synchronous step in which its cursor
 * reaches the head, and commits are delivered synchronously after their transaction, so every
 * revision is sent exactly once, by the catch-up or by the delivery, never both.
 */
export interface Watch extends Record<string, unknown> {
  watcher: string;
  authRevision: number;
  /** During the catch-up: the last revision sent. */
  cursor: number;
  phase: "confirming" | "catching-up" | "live";
}

/** Where a catch-up reads: the object's committed, redacted stream. Absent for the admin feed. */
export interface EventSource {
  head(): number;
  read(fromRevision: number, limit: number): PublicEvent[];
}

export interface WatchersOptions {
  source: EventSource | null;
  /**
   * Whether the watcher's credential still holds (asked of the watcher's own object, which also
   * records where it watches). `true` synchronously when there is nothing to ask (self-watching).
   */
  confirm(watch: Watch): boolean | Promise<boolean>;
  /** The last socket of `watcher` here closed: its own object may forget this place. */
  gone(watcher: string): void;
}

type Close = { readonly code: number; readonly reason: string };

const OPEN = 1;

export class Watchers {
  /** Attachments as read or written in this instance: the runtime's copy is the one that survives. */
  private readonly known = new Map<WebSocket, Watch>();
  /**
   * Per socket, the bytes sent since the client last showed it reads (its last `ping`, answered by
   * the runtime at `ackAt`). In memory: an evicted object starts every count again at 0.
   */
  private readonly unacked = new Map<WebSocket, { bytes: number; ackAt: number }>();

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly options: WatchersOptions,
  ) {}

  /**
   * After the object (re)starts: the catch-ups that were running continue from their saved cursor;
   * a live socket stays live (every commit before the eviction was delivered with it).
   * Confirmations in flight were lost with the instance: those sockets close, the client retries.
   */
  wake(): void {
    for (const ws of this.open()) {
      const watch = this.watchOf(ws);
      if (!watch) continue;
      this.known.set(ws, watch);
      if (watch.phase === "confirming") this.close(ws, CLOSE.unavailable);
      else if (watch.phase === "catching-up") void this.catchUp(ws);
    }
  }

  /** Accepts an authorised upgrade; returns the client's end for the 101 response. */
  accept(request: WatchRequest): WebSocket {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    const full = this.open().length >= LIMITS.maxWatchers;
    this.ctx.acceptWebSocket(server, [tagOf(request.watcher)]);
    if (full) {
      this.close(server, CLOSE.tooManyWatchers);
      return client;
    }
    const head = this.options.source?.head() ?? 0;
    const watch: Watch = {
      watcher: request.watcher,
      authRevision: request.authRevision,
      cursor: request.fromRevision === null ? head : request.fromRevision - 1,
      phase: "confirming",
    };
    this.save(server, watch);
    const confirmed = this.options.confirm(watch);
    if (confirmed === true) this.start(server, watch);
    else if (confirmed === false) this.close(server, CLOSE.revoked);
    else {
      const pending = confirmed.then(
        (ok) => (ok ? this.start(server, watch) : this.close(server, CLOSE.revoked)),
        () => this.close(server, CLOSE.unavailable),
      );
      this.ctx.waitUntil(pending);
    }
    return client;
  }

  /**
   * Sends freshly committed events to every live socket; a socket whose queue is over the limit is
   * closed instead. Called synchronously after each commit, so a live socket is always at the head.
   */
  deliver(events: readonly PublicEvent[]): void {
    if (events.length === 0) return;
    const frames = events.map((event) => JSON.stringify(event));
    for (const ws of this.open()) {
      if (this.watchOf(ws)?.phase !== "live") continue;
      if (this.backlog(ws) > LIMITS.maxQueuedBytes) {
        this.close(ws, CLOSE.tooSlow);
        continue;
      }
      frames.forEach((frame) => this.send(ws, frame));
    }
  }

  /** Closes the sockets of `watcher` that were authorised before `revokedAt`. */
  revoke(watcher: string, revokedAt: number): void {
    for (const ws of this.ctx.getWebSockets(tagOf(watcher))) {
      const watch = this.watchOf(ws);
      if (watch && watch.authRevision < revokedAt) this.close(ws, CLOSE.revoked);
    }
  }

  closeAll(reason: Close): void {
    for (const ws of this.open()) this.close(ws, reason);
  }

  /** The runtime's webSocketClose: answer the close (else the client waits 10 s for a 1006). */
  closedByClient(ws: WebSocket, code: number): void {
    const watch = this.watchOf(ws);
    try {
      // 1005 and 1006 are reserved for "no code" and may not be sent.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closed");
    } catch {
      // already closed
    }
    this.forget(ws, watch);
  }

  /** The only message a client may send is "ping", which the runtime answers without us. */
  messageFromClient(ws: WebSocket): void {
    this.close(ws, CLOSE.unexpectedMessage);
  }

  /** How many sockets are open here (for tests and status). */
  count(): number {
    return this.open().length;
  }

  /** Waits between catch-up pages: commands may commit meanwhile. Tests hook in here. */
  async betweenPages(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }

  private start(ws: WebSocket, watch: Watch): void {
    if (ws.readyState !== OPEN) return;
    if (!this.options.source) {
      this.save(ws, { ...watch, phase: "live" });
      return;
    }
    this.save(ws, { ...watch, phase: "catching-up" });
    void this.catchUp(ws);
  }

  /** Sends stored events from the socket's cursor until it reaches the head, then `caught_up`. */
  private async catchUp(ws: WebSocket): Promise<void> {
    const source = this.options.source;
    if (!source) return;
    let stalledSince: number | null = null;
    for (;;) {
      const watch = this.watchOf(ws);
      if (watch?.phase !== "catching-up" || ws.readyState !== OPEN) return;
      const head = source.head();
      if (watch.cursor >= head) {
        const caughtUp: CaughtUpFrame = { type: "caught_up", revision: head };
        this.send(ws, JSON.stringify(caughtUp));
        this.save(ws, { ...watch, cursor: head, phase: "live" });
        return;
      }
      if (this.backlog(ws) >= LIMITS.catchUpHighWater) {
        stalledSince ??= Date.now();
        if (Date.now() - stalledSince > LIMITS.catchUpStallMs) return this.close(ws, CLOSE.tooSlow);
        await new Promise((resolve) => setTimeout(resolve, 25));
        continue;
      }
      stalledSince = null;
      const page = source.read(watch.cursor + 1, LIMITS.catchUpPage);
      page.forEach((event) => this.send(ws, JSON.stringify(event)));
      this.save(ws, { ...watch, cursor: page[page.length - 1]?.revision ?? head });
      await this.betweenPages();
    }
  }

  /**
   * What waits for the client: the runtime's `bufferedAmount` where it reports one (bytes sent, not
   * yet taken by the network). workerd's server-side sockets have none (checked with the pool's
   * workerd: the property does not exist), so there it is the bytes sent since the client's last
   * `ping`: a client that reads pings (LIMITS.pingEveryBytes), one that stopped reading does not.
   */
  private backlog(ws: WebSocket): number {
    const buffered = (ws as { bufferedAmount?: unknown }).bufferedAmount;
    if (typeof buffered === "number") return buffered;
    return this.unackedOf(ws).bytes;
  }

  private send(ws: WebSocket, frame: string): void {
    ws.send(frame);
    this.unackedOf(ws).bytes += frame.length;
  }

  /** The socket's count since its last ping, reset when the runtime answered a newer one. */
  private unackedOf(ws: WebSocket): { bytes: number; ackAt: number } {
    let count = this.unacked.get(ws);
    if (!count) {
      count = { bytes: 0, ackAt: 0 };
      this.unacked.set(ws, count);
    }
    const pingAt = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
    if (pingAt > count.ackAt) {
      count.bytes = 0;
      count.ackAt = pingAt;
    }
    return count;
  }

  private save(ws: WebSocket, watch: Watch): void {
    ws.serializeAttachment(watch);
    this.known.set(ws, watch);
  }

  private close(ws: WebSocket, { code, reason }: Close): void {
    const watch = this.watchOf(ws);
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
    this.forget(ws, watch);
  }

  /** The runtime drops an attachment once either side closed: read it before closing. */
  private forget(ws: WebSocket, watch = this.watchOf(ws)): void {
    this.known.delete(ws);
    this.unacked.delete(ws);
    if (!watch) return;
    const others = this.ctx.getWebSockets(tagOf(watch.watcher)).filter((s) => s !== ws && s.readyState === OPEN);
    if (others.length === 0) this.options.gone(watch.watcher);
  }

  private watchOf(ws: WebSocket): Watch | null {
    return this.known.get(ws) ?? (ws.deserializeAttachment() as Watch | null);
  }

  private open(): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws.readyState === OPEN);
  }
}

export function tagOf(watcher: string): string {
  return `watcher:${watcher}`;
}
