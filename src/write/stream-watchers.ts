import { redact, type RecordedEvent } from "../domain/events";
import { revocationIn } from "../domain/fields";
import { CLOSE, WATCH_HEADER, type WatchRequest, type WatchTarget } from "../live/protocol";
import { revokeWatches } from "../live/targets";
import { Watchers, type Watch } from "../live/watchers";
import { userStream } from "../objects";
import { deleteMeta, getMeta } from "./event-store";
import { publicEvents } from "./stream-reads";
import type { StreamContext } from "./stream-context";

/** When the alarm tries again to close this user's sockets elsewhere, after a place did not answer. */
const REVOKE_RETRY_MS = 5_000;

/**
 * The live side of one user's object: the sockets watching its stream, and the sockets its own
 * user opened elsewhere, which a revocation of its credentials must close.
 */
export class StreamWatchers {
  /** The sockets watching this stream. */
  readonly sockets: Watchers;

  constructor(private readonly stream: StreamContext) {
    this.sockets = new Watchers(stream.ctx, {
      source: { head: () => stream.current.revision, read: (from, limit) => publicEvents(stream, from, limit) },
      confirm: (watch) => this.confirm(watch),
      gone: (watcher) => this.gone(watcher),
    });
  }

  /**
   * A watcher's upgrade, authorised by the Worker (self or admin), which put the watcher in
   * WATCH_HEADER. Accepted through the hibernation API: first the stored events from
   * `fromRevision`, then `caught_up`, then every commit.
   */
  upgrade(request: Request): Response {
    const header = request.headers.get(WATCH_HEADER);
    if (request.headers.get("Upgrade") !== "websocket" || !header) return new Response(null, { status: 426 });
    const watch = JSON.parse(header) as WatchRequest;
    if (!this.stream.userId) return new Response(null, { status: 404 });
    const head = this.stream.current.revision;
    if (watch.fromRevision !== null && watch.fromRevision > head + 1) {
      return new Response(null, { status: 422, headers: { "x-revision": String(head) } });
    }
    return new Response(null, { status: 101, webSocket: this.sockets.accept(watch) });
  }

  /**
   * After a commit, in the same synchronous step: the watchers get the events; an erasure closes
   * every watcher, a revocation of this user's credentials the sockets it opened, here and elsewhere.
   */
  deliver(events: RecordedEvent[]): void {
    this.sockets.deliver(events.map(redact));
    const revokedAt = revocationIn(events);
    const self = this.stream.userId;
    if (events.some((event) => event.event_type === "USER_ERASED")) this.sockets.closeAll(CLOSE.erased);
    else if (revokedAt !== null && self) this.sockets.revoke(self, revokedAt);
    if (revokedAt !== null) this.stream.ctx.waitUntil(this.revokeElsewhere());
  }

  /** Closes this user's sockets on other streams after a revocation; the alarm retries failures. */
  async revokeElsewhere(): Promise<void> {
    const { ctx, env, sql, userId } = this.stream;
    const pending = getMeta(sql, "revoke_watches_before");
    if (pending === null || !userId) return;
    const done = await revokeWatches(env, sql, userId, Number(pending));
    if (done && getMeta(sql, "revoke_watches_before") === pending) deleteMeta(sql, "revoke_watches_before");
    else if (!done) await ctx.storage.setAlarm(Date.now() + REVOKE_RETRY_MS);
  }

  private confirm(watch: Watch): boolean | Promise<boolean> {
    if (watch.watcher === this.stream.userId) return true;
    return userStream(this.stream.env, watch.watcher).watching(this.target(), watch.authRevision);
  }

  private gone(watcher: string): void {
    if (watcher === this.stream.userId) return;
    this.stream.ctx.waitUntil(
      userStream(this.stream.env, watcher)
        .unwatched(this.target())
        .catch(() => undefined),
    );
  }

  private target(): WatchTarget {
    return `user:${this.stream.userId}`;
  }
}
