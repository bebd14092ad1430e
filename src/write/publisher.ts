import type { RecordedEvent } from "../domain/events";
import { getMeta, markOutboxUnsent, outboxIsEmpty } from "./event-store";
import { flushOutbox, reconcileOutbox } from "./outbox";
import { traceWork, tracing } from "../observability";
import type { StreamContext } from "./stream-context";

/**
 * When the alarm first looks at what the read side confirmed, and publishes what an in-request
 * publish did not (a crash, a failing queue).
 */
export const PUBLISH_SAFETY_NET_MS = 5_000;
/**
 * The same for an import's events. A bulk import outruns the read side by minutes, and until the
 * read side confirms, the alarm wakes the object every few seconds (and sends the events again):
 * every imported user's object stayed alive, its SQLite files and its name registries' open, and
 * a local server ran out of file descriptors (BENCHMARKS.md, "Import"). The in-request publish
 * still sends at once; only the safety net waits.
 */
export const IMPORT_SAFETY_NET_MS = 5 * 60_000;

/**
 * Sends one object's committed events to the queue. Right after each commit from the events the
 * commit holds, with the alarm, armed in the commit's own transaction, as the safety net that
 * reads the outbox from storage and reconciles it with what the read side confirmed.
 */
export class Publisher {
  private running: Promise<void> | null = null;
  /**
   * What the next publish sends: the events commits handed over since the last one, or "storage"
   * when the outbox must be read (an import, an erasure, which the copies in memory predate).
   */
  private pending: RecordedEvent[] | "storage" = [];
  /**
   * Whether the last flush failed (the queue refusing), as `flush_failures` in storage says, kept
   * so a commit and its publish need not read it: set by this publisher's own flushes, read again
   * from storage after the alarm's (null: not known).
   */
  private failed: boolean | null = null;

  constructor(private readonly stream: StreamContext) {}

  /**
   * Inside a transaction that appends to an empty outbox: the alarm that runs until the outbox is
   * empty again. Later commits must not push it back (a busy user would never be reconciled).
   */
  armIfFirst(outboxWasEmpty: boolean, now: number, after = PUBLISH_SAFETY_NET_MS): void {
    if (outboxWasEmpty) void this.stream.ctx.storage.setAlarm(now + after);
  }

  /**
   * Inside a commit's transaction: whether the publish after it will send `events` as they are, so
   * their outbox rows can be written marked sent, which spares the publish a second write to mark
   * them. Not while the queue is refusing (the alarm sends from storage), nor when the next publish
   * reads storage anyway (an import, an erasure).
   */
  claims(events: readonly RecordedEvent[]): boolean {
    return this.pending !== "storage" && !this.failing() && !events.some(isErasure);
  }

  /**
   * Publishes right after a commit instead of waiting for the alarm (one scheduling hop and one
   * alarm per command less), from the events the commit holds: nothing is read back. Runs of
   * commits share one flush; the alarm stays the safety net, and alone retries while the queue is
   * failing (with its backoff), reading the outbox from storage. `committed` null: what to publish
   * is in storage only (an import).
   */
  afterCommit(committed: readonly RecordedEvent[] | null): void {
    if (committed === null || committed.some(isErasure)) {
      this.giveUp();
      this.pending = "storage";
    } else if (this.pending !== "storage") {
      this.pending.push(...committed);
    }
    if (this.running) return;
    this.running = (async () => {
      while (this.pending === "storage" || this.pending.length > 0) {
        // While the queue refuses, the alarm alone retries (with its backoff), from storage.
        if (this.failing()) {
          this.giveUp();
          return;
        }
        const taken = this.pending;
        this.pending = [];
        await this.publishUnsent(taken === "storage" ? null : taken);
      }
    })().finally(() => {
      this.running = null;
    });
    this.stream.ctx.waitUntil(this.running);
  }

  /** The publish under way, if any, done (an import announces before it answers: see StreamImport). */
  async published(): Promise<void> {
    await this.running;
  }

  private failing(): boolean {
    this.failed ??= Number(getMeta(this.stream.sql, "flush_failures") ?? 0) > 0;
    return this.failed;
  }

  /** Drops the events in hand not yet taken: their rows, marked sent by their commits, are unsent again. */
  private giveUp(): void {
    if (this.pending !== "storage" && this.pending.length > 0) {
      markOutboxUnsent(
        this.stream.sql,
        this.pending.map((event) => event.revision),
      );
    }
    this.pending = [];
  }

  /** Publishes `inHand` as they are, or what the outbox holds unsent when null. */
  async publishUnsent(inHand: RecordedEvent[] | null): Promise<void> {
    const { ctx, env, userId } = this.stream;
    if (!userId) return;
    this.failed = !(await flushOutbox(
      ctx,
      env,
      userId,
      inHand && { events: inHand, publishable: () => !this.stream.erased },
    ));
  }

  /** The alarm's share: what is unsent goes out, what the read side confirmed is forgotten. */
  async reconcile(): Promise<void> {
    const { ctx, env, userId } = this.stream;
    if (!userId) return;
    const start = Date.now();
    try {
      await reconcileOutbox(ctx, env, userId);
    } finally {
      this.failed = null;
      if (tracing(env)) traceWork("alarm", Date.now() - start);
    }
  }

  /**
   * On waking: an outbox with rows needs an alarm. One can be lost when the process dies at the
   * wrong moment (a running alarm is already cleared); this puts it back whenever the object wakes.
   */
  async rearm(): Promise<void> {
    const { sql, ctx } = this.stream;
    if (outboxIsEmpty(sql) || (await ctx.storage.getAlarm()) !== null) return;
    await ctx.storage.setAlarm(Date.now() + PUBLISH_SAFETY_NET_MS);
  }
}

function isErasure(event: RecordedEvent): boolean {
  return event.event_type === "USER_ERASED";
}
