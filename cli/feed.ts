import type { Client } from "../src/client.ts";
import { CliError, failure } from "./errors.ts";

/** The longest wait the service holds a request for: each request of the tail asks for all of it. */
const WAIT_SECONDS = "30";
/** After a dropped connection, the pause before asking again (doubling up to a minute). */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

export interface TailOptions {
  after: number;
  eventTypes: string | undefined;
  /** Where each event goes, one JSON line each (stdout; tests pass their own). */
  write(line: string): void;
  /** Stops the tail after the page in flight; without it the tail runs until the process ends. */
  signal?: AbortSignal;
}

/**
 * `feed tail`: the feed from `after` on, one JSON event per line, for as long as the process runs.
 * Each request long-polls (`wait=30`), so a quiet feed costs one request per 30 s and an event
 * shows up as soon as the service has it. The position moves only past events already written, so
 * a tail restarted with `--after` set to the last position it printed misses nothing.
 */
export async function tailFeed(api: Client, options: TailOptions): Promise<number> {
  let after = options.after;
  let retryMs = RETRY_FIRST_MS;
  while (!options.signal?.aborted) {
    const query = {
      after: String(after),
      wait: WAIT_SECONDS,
      limit: "1000",
      ...(options.eventTypes ? { event_types: options.eventTypes } : {}),
    };
    let res: Awaited<ReturnType<typeof api.admin.feed.$get>>;
    try {
      res = await api.admin.feed.$get({ query }, { init: { signal: options.signal ?? null } });
    } catch (error) {
      if (options.signal?.aborted) break;
      // The connection dropped (a deploy, a network blip): the checkpoint is safe, ask again later.
      process.stderr.write(`feed: ${error instanceof Error ? error.message : String(error)}; retrying\n`);
      await pause(retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      continue;
    }
    // The typed client knows the route's 200 only; the envelope's statuses are plain numbers.
    if ((res.status as number) === 503) {
      // Every waiting place of the instance is taken: come back when it says.
      await pause(Number(res.headers.get("retry-after") ?? "1") * 1000);
      continue;
    }
    if (!res.ok) throw await failure(res);
    const page = await res.json();
    for (const event of page.events) options.write(JSON.stringify(event));
    after = page.next_after;
    retryMs = RETRY_FIRST_MS;
  }
  return after;
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** `--after` as a position: a whole number, 0 or more. */
export function position(value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d{1,15}$/.test(value)) throw new CliError("--after must be a position (a whole number, 0 or more)");
  return Number(value);
}
