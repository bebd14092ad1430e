import { useEffect, useRef, useState } from "hono/jsx/dom";
import { CLOSE, LIMITS, PING, type CaughtUpFrame } from "../live/protocol";
import { api, type StreamEvent } from "./api";

export type LiveState = "connecting" | "live" | "closed";

const PING_EVERY_MS = 25_000;
const RETRY_MS = [1_000, 2_000, 5_000, 10_000];

/**
 * A user's events as they commit: `GET /v1/users/{id}/events/live` by single-use ticket (the bearer
 * token never goes into a URL), resumed from the last revision seen after a drop, so the timeline
 * gets every event once. `from` is the first revision not yet shown; null waits.
 */
export function useLiveEvents(
  userId: string,
  from: number | null,
  onEvent: (event: StreamEvent) => void,
  onRevoked: () => void,
): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const next = useRef<number | null>(null);
  const handlers = useRef({ onEvent, onRevoked });
  handlers.current = { onEvent, onRevoked };
  if (from !== null && (next.current === null || from > next.current)) next.current = from;
  const started = from !== null;

  useEffect(() => {
    if (!started) return;
    let socket: WebSocket | null = null;
    let stopped = false;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let pinger: ReturnType<typeof setInterval> | undefined;

    const connect = async () => {
      setState("connecting");
      try {
        const { ticket } = await api<{ ticket: string }>("/v1/auth/ticket/", { method: "POST" });
        if (stopped) return;
        const scheme = location.protocol === "https:" ? "wss" : "ws";
        const query = new URLSearchParams({ from_revision: String(next.current ?? 1), ticket });
        socket = new WebSocket(`${scheme}://${location.host}/v1/users/${userId}/events/live?${query}`);
      } catch {
        retry();
        return;
      }
      let readSincePing = 0;
      socket.onmessage = ({ data }: MessageEvent<string>) => {
        if (data === "pong") return;
        // The object closes a socket that read LIMITS.maxQueuedBytes without saying so (4408).
        readSincePing += data.length;
        if (readSincePing >= LIMITS.pingEveryBytes) {
          readSincePing = 0;
          socket?.send(PING);
        }
        const frame = JSON.parse(data) as StreamEvent | CaughtUpFrame;
        if ("type" in frame && frame.type === "caught_up") {
          failures = 0;
          setState("live");
          return;
        }
        const event = frame as StreamEvent;
        next.current = event.revision + 1;
        handlers.current.onEvent(event);
      };
      socket.onclose = ({ code }: CloseEvent) => {
        clearInterval(pinger);
        if (stopped) return;
        if (code === CLOSE.revoked.code) return handlers.current.onRevoked();
        if (code === CLOSE.erased.code) return setState("closed");
        retry();
      };
      clearInterval(pinger);
      pinger = setInterval(() => socket?.readyState === WebSocket.OPEN && socket.send(PING), PING_EVERY_MS);
    };

    const retry = () => {
      setState("connecting");
      const delay = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)] ?? 10_000;
      failures += 1;
      timer = setTimeout(() => void connect(), delay);
    };

    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(pinger);
      socket?.close(1000, "page closed");
    };
  }, [userId, started]);

  return started ? state : "connecting";
}
