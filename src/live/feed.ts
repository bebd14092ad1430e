import { DurableObject } from "cloudflare:workers";
import type { PublicEvent } from "../domain/events";
import { log } from "../observability";
import { PING, PONG, WATCH_HEADER, type WatchRequest, type WatchTarget } from "./protocol";
import { Watchers, type Watch } from "./watchers";
import { userStream } from "../objects";

/** The one admin feed object's name (see docs/decisions for why one object and not shards). */
export const FEED_NAME = "all";

/**
 * The projector's hook, after its D1 batch committed. Best effort: the feed is a monitor, so a
 * failure here is logged and never retries the projection (each user's stream is the record).
 */
export async function publishToFeed(env: Env, events: PublicEvent[]): Promise<void> {
  if (events.length === 0) return;
  try {
    await env.LIVE_FEED.getByName(FEED_NAME).publish(events);
  } catch (error) {
    log("warn", "live feed publish failed", { events: events.length, error: String(error) });
  }
}

/**
 * `GET /admin/events/live`: every user's events as the projector commits them, fanned out to the
 * admins watching. Live only: the feed keeps no history (each user's stream has it).
 */
export class LiveFeed extends DurableObject<Env> {
  private readonly target: WatchTarget = `feed:${FEED_NAME}`;
  private readonly watchers = new Watchers(this.ctx, {
    source: null,
    confirm: (watch: Watch) => userStream(this.env, watch.watcher).watching(this.target, watch.authRevision),
    gone: (watcher: string) =>
      this.ctx.waitUntil(
        userStream(this.env, watcher)
          .unwatched(this.target)
          .catch(() => undefined),
      ),
  });

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.watchers.wake();
  }

  override fetch(request: Request): Response {
    const header = request.headers.get(WATCH_HEADER);
    if (request.headers.get("Upgrade") !== "websocket" || !header) return new Response(null, { status: 426 });
    return new Response(null, { status: 101, webSocket: this.watchers.accept(JSON.parse(header) as WatchRequest) });
  }

  /** Called by the projector after a successful commit, with the events it applied. */
  publish(events: PublicEvent[]): void {
    this.watchers.deliver(events);
  }

  revokeWatcher(watcher: string, revokedAt: number): void {
    this.watchers.revoke(watcher, revokedAt);
  }

  watcherCount(): number {
    return this.watchers.count();
  }

  override webSocketMessage(ws: WebSocket): void {
    this.watchers.messageFromClient(ws);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.watchers.closedByClient(ws, code);
  }
}
