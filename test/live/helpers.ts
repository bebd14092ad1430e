import { vi } from "vitest";
import type { PublicEvent } from "../../src/domain/events";
import { LIMITS, PING, WATCH_HEADER, type CaughtUpFrame, type WatchRequest } from "../../src/live/protocol";

/** A watcher's end of a live socket: every frame it got, and how it was closed. */
export interface Watcher {
  ws: WebSocket;
  frames: (PublicEvent | CaughtUpFrame)[];
  /** Revisions of the event frames, in arrival order. */
  revisions(): number[];
  caughtUp(): CaughtUpFrame | undefined;
  closed: { code: number; reason: string } | null;
  /** Answers to its pings: each one tells the object it reads. */
  pongs: number;
  /** Waits until an event frame of `revision` arrived. */
  until(revision: number): Promise<void>;
  untilClosed(timeout?: number): Promise<{ code: number; reason: string }>;
}

/**
 * Wraps the client end of a 101 response. It reads as the protocol asks: a `ping` each time it has
 * read LIMITS.pingEveryBytes since the last (`pings: false`: a client that never says it reads).
 */
export function watcherOf(res: Response, { pings = true } = {}): Watcher {
  const ws = res.webSocket;
  if (res.status !== 101 || !ws) throw new Error(`expected 101, got ${res.status}`);
  ws.accept();
  const watcher: Watcher = {
    ws,
    frames: [],
    closed: null,
    pongs: 0,
    revisions: () => watcher.frames.flatMap((f) => ("type" in f ? [] : [f.revision])),
    caughtUp: () => watcher.frames.find((f): f is CaughtUpFrame => "type" in f && f.type === "caught_up"),
    until: (revision) =>
      vi
        .waitUntil(() => watcher.revisions().includes(revision) || watcher.closed !== null, { timeout: 5000 })
        .then(() => {
          if (!watcher.revisions().includes(revision))
            throw new Error(`closed before ${revision}: ${JSON.stringify(watcher.closed)}`);
        }),
    untilClosed: async (timeout = 5000) => {
      await vi.waitUntil(() => watcher.closed !== null, { timeout });
      return watcher.closed as { code: number; reason: string };
    },
  };
  let readSincePing = 0;
  ws.addEventListener("message", (event) => {
    if (event.data === "pong") watcher.pongs += 1;
    else if (typeof event.data === "string") {
      watcher.frames.push(JSON.parse(event.data));
      readSincePing += event.data.length;
      if (pings && readSincePing >= LIMITS.pingEveryBytes) {
        readSincePing = 0;
        ws.send(PING);
      }
    }
  });
  ws.addEventListener("close", (event) => {
    watcher.closed = { code: event.code, reason: event.reason };
  });
  return watcher;
}

/** Opens a socket on an object as the Worker would after authorising `watch.watcher`. */
export async function watchObject(
  stub: { fetch(request: Request): Promise<Response> },
  watch: WatchRequest,
  options: { pings?: boolean } = {},
): Promise<Watcher> {
  const res = await stub.fetch(
    new Request("http://object/live", {
      headers: { Upgrade: "websocket", [WATCH_HEADER]: JSON.stringify(watch) },
    }),
  );
  return watcherOf(res, options);
}

/** Whether `revisions` is exactly from..to, each once, in order. */
export function run(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
