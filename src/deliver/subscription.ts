import { DurableObject } from "cloudflare:workers";
import { webhookConfig } from "../config";
import { log } from "../observability";
import { feedEnd, feedRowsAt, readFeed } from "../read/feed";
import { deliverDue } from "./dispatch";
import { tailFeed } from "./feed-tail";
import { mailSink } from "./mail-sink";
import { deleteMirror, writeMirror } from "./mirror";
import {
  MAIL_SUBSCRIPTION_ID,
  type DeliveryQuery,
  type DeliveryView,
  type NewSubscription,
  type SubscriptionPatch,
  type SubscriptionRpc,
  type SubscriptionView,
} from "./protocol";
import type { DeliveryOutcome, Sink } from "./sink";
import * as store from "./subscription-store";
import { webhookSink } from "./webhook-sink";

/** A rotated-out secret still signs (beside the new one) this long, so receivers can switch over. */
export const ROTATION_GRACE_MS = 24 * 3600_000;
/** One alarm's deliveries stop starting after this; the next alarm goes on. */
const ROUND_MS = 20_000;
/** Delivered rows kept for the list; the feed itself keeps every event. */
const KEEP_DELIVERED = 10_000;
/** When the alarm failed, or D1's row could not be written: try again this much later. */
const SAFETY_MS = 30_000;
/**
 * Runs start at least this far apart: under load the projector wakes every subscription once per
 * batch, and each run costs a feed read on the thread that also projects.
 */
const RUN_SPACING_MS = 100;

/**
 * One webhook subscription (or the welcome mail): see `SubscriptionRpc` in ./protocol. Every RPC
 * changes the object's SQLite and arms the alarm; only the alarm reads the feed and delivers, one
 * run at a time, so a kill at any moment leaves the checkpoint and each delivery's state as last
 * committed, and the next alarm (or wake) goes on from there.
 */
export class Subscription extends DurableObject<Env> implements SubscriptionRpc {
  private removed = false;
  /** Bumped by what makes a feed page being read stale: replay, a new filter, deletion. */
  private generation = 0;
  /**
   * Per user, bumped when its delivery rows are rewritten (redeliver, erasure, replay): a 2xx of
   * a delivery sent before is not recorded, and it goes again as the row now reads (`Round.rowsVersion`). Only rounds
   * compare them, so each run starts with none.
   */
  private readonly rowsVersions = new Map<string, number>();
  /** Users whose rows an erasure is rewriting now (`forget` awaits D1 in between): not delivered meanwhile. */
  private readonly rewriting = new Set<string>();

  private rowsRewritten(userId: string): void {
    this.rowsVersions.set(userId, (this.rowsVersions.get(userId) ?? 0) + 1);
  }

  /** Bumped by every request for work, so an alarm finishing after it does not arm itself later. */
  private wakes = 0;
  /**
   * Whether the feed may hold rows after the checkpoint that this object has not taken: the next
   * run reads D1 only then. True at start (a restart knows nothing of what happened meanwhile) and
   * after any request for work; an alarm that only retries deliveries does not read the feed.
   */
  private mayBeBehind = true;

  private get sql() {
    return this.ctx.storage.sql;
  }

  /** When the last alarm run started: the next starts RUN_SPACING_MS after it at the earliest. */
  private runStartedAt = 0;

  /** Now, or RUN_SPACING_MS after the last run started: wakes in between share one run and one feed read. */
  private nextRunAt(): number {
    return Math.max(Date.now(), this.runStartedAt + RUN_SPACING_MS);
  }

  /** Whether the tables were seen: they go only with `remove`, so one look suffices until then. */
  private tablesSeen = false;
  /**
   * The settings row as last read: a round asks for it before every delivery (has it been paused?),
   * so it is read once, and again only after a write that bypasses it. Every write of the row goes
   * through `changeSettings`, which applies it here too, or is followed by `settingsChanged`, which
   * drops it.
   */
  private cachedSettings: store.SettingsRow | null = null;

  private settings(): store.SettingsRow | null {
    if (this.removed) return null;
    if (this.cachedSettings) return this.cachedSettings;
    this.tablesSeen ||= store.tablesExist(this.sql);
    this.cachedSettings = this.tablesSeen ? store.readSettings(this.sql) : null;
    return this.cachedSettings;
  }

  private settingsChanged(): void {
    this.cachedSettings = null;
  }

  /**
   * Writes `patch` and applies it to the cached row, which then still equals the stored one: a
   * delivery's outcome is such a write, and dropping the cache made the next `settings()` (before
   * the next delivery) read the row again, once per delivery.
   */
  private changeSettings(patch: Partial<store.SettingsRow>): void {
    store.updateSettings(this.sql, patch);
    if (!this.cachedSettings) return;
    const applied = Object.fromEntries(Object.entries(patch).map(([column, value]) => [column, value ?? null]));
    this.cachedSettings = { ...this.cachedSettings, ...applied };
  }

  async create(input: NewSubscription): Promise<SubscriptionView & { secret: string | null }> {
    const existing = this.settings();
    if (existing) return { ...(await this.viewOf(existing)), secret: null };
    this.removed = false;
    const now = new Date().toISOString();
    const secret = input.kind === "webhook" ? newSecret() : null;
    const row: store.SettingsRow = {
      id: input.id,
      kind: input.kind,
      url: input.url,
      event_types: JSON.stringify(input.eventTypes),
      description: input.description,
      status: "active",
      secret,
      previous_secret: null,
      previous_until: null,
      checkpoint: input.fromPosition,
      feed_end: input.fromPosition,
      created_at: now,
      updated_at: now,
      last_delivery: null,
      failing_since: null,
      mirror_dirty: 1,
    };
    this.ctx.storage.transactionSync(() => {
      store.createTables(this.sql);
      store.insertSettings(this.sql, row);
    });
    this.settingsChanged();
    await this.syncMirror();
    await this.arm();
    return { ...(await this.viewOf(row)), secret };
  }

  async view(): Promise<SubscriptionView | null> {
    const settings = this.settings();
    return settings ? this.viewOf(settings) : null;
  }

  async update(patch: SubscriptionPatch): Promise<SubscriptionView | null> {
    if (!this.settings()) return null;
    const changes: Partial<store.SettingsRow> = { updated_at: new Date().toISOString(), mirror_dirty: 1 };
    if (patch.status) changes.status = patch.status;
    if (patch.url) changes.url = patch.url;
    if (patch.eventTypes) {
      changes.event_types = JSON.stringify(patch.eventTypes);
      this.generation++;
    }
    this.changeSettings(changes);
    await this.syncMirror();
    await this.arm();
    return this.view();
  }

  async remove(): Promise<boolean> {
    const settings = this.settings();
    if (!settings) return false;
    // D1's row first: if that fails, nothing is gone and the caller can try again.
    await deleteMirror(this.env.DB, settings.id);
    this.removed = true;
    this.tablesSeen = false;
    this.settingsChanged();
    this.generation++;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    return true;
  }

  async replay(fromPosition: number): Promise<SubscriptionView | null> {
    if (!this.settings()) return null;
    this.generation++;
    // A 2xx out now, or waiting to be written, of a row kept pending by `rewind` must not mark it
    // delivered: it is sent again after the replay, as asked.
    for (const userId of store.usersPendingAfter(this.sql, fromPosition)) this.rowsRewritten(userId);
    this.ctx.storage.transactionSync(() => store.rewind(this.sql, fromPosition));
    this.settingsChanged();
    await this.arm();
    return this.view();
  }

  rotateSecret(): Promise<{ secret: string } | null> {
    const settings = this.settings();
    if (!settings || settings.kind !== "webhook") return Promise.resolve(null);
    const secret = newSecret();
    this.changeSettings({
      secret,
      previous_secret: settings.secret,
      previous_until: Date.now() + ROTATION_GRACE_MS,
      updated_at: new Date().toISOString(),
    });
    return Promise.resolve({ secret });
  }

  deliveries(query: DeliveryQuery): Promise<{ results: DeliveryView[]; next_cursor: number | null } | null> {
    if (!this.settings()) return Promise.resolve(null);
    const rows = store.listDeliveries(this.sql, query);
    const next = rows.length === query.limit ? (rows[rows.length - 1]?.position ?? null) : null;
    return Promise.resolve({ results: rows.map(store.deliveryView), next_cursor: next });
  }

  async redeliver(eventId: string): Promise<DeliveryView | null> {
    if (!this.settings()) return null;
    const row = store.deliveryRow(this.sql, eventId);
    if (!row) return null;
    if (row.event === null) {
      // Delivered rows drop their event: the feed has it (erased fields as they read now).
      const [event] = await readFeed(this.env.DB, { after: row.position - 1, limit: 1 });
      if (!event || event.id !== eventId) return null;
      store.restoreEvent(this.sql, event);
    }
    store.requeue(this.sql, eventId, Date.now());
    // A send of it that is out now must not mark it delivered when it comes back.
    this.rowsRewritten(row.user_id);
    await this.arm();
    const requeued = store.deliveryRow(this.sql, eventId);
    return requeued ? store.deliveryView(requeued) : null;
  }

  async wake(): Promise<void> {
    const settings = this.settings();
    if (!settings) {
      // The welcome mail's subscription exists without anyone creating it: its first wake does.
      if (this.ctx.id.name !== MAIL_SUBSCRIPTION_ID) return;
      await this.create({
        id: MAIL_SUBSCRIPTION_ID,
        kind: "mail",
        url: null,
        eventTypes: ["USER_CREATED"],
        description: "The welcome mail",
        fromPosition: 0,
      });
      return;
    }
    await this.arm();
  }

  async forget(userId: string): Promise<number> {
    if (!this.settings()) return 0;
    // The feed was rewritten before this call: a page being read now may hold the rows as they
    // were, so it is dropped and read again; any read after this one sees them erased.
    this.generation++;
    const positions = store.heldPositions(this.sql, userId);
    if (positions.length === 0) return 0;
    // A delivery of the user that is out now carries the rows as they were: it is not recorded
    // and goes again once they are rewritten; none starts before that.
    this.rowsRewritten(userId);
    this.rewriting.add(userId);
    try {
      const events = await feedRowsAt(this.env.DB, positions);
      this.ctx.storage.transactionSync(() => store.replaceHeld(this.sql, positions, events));
    } finally {
      this.rewriting.delete(userId);
    }
    return positions.length;
  }

  override async alarm(): Promise<void> {
    const wakesAtStart = this.wakes;
    this.runStartedAt = Date.now();
    let next: number | null;
    try {
      next = await this.run();
    } catch (error) {
      this.mayBeBehind = true;
      if (this.removed) return;
      log("error", "subscription run failed", { subscription: this.ctx.id.name ?? null, error: String(error) });
      next = Date.now() + SAFETY_MS;
    }
    if (this.removed) return;
    if (this.wakes !== wakesAtStart) next = this.nextRunAt();
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  /** Reads the feed, delivers what is due; returns when to come back (null: nothing to do until woken). */
  private async run(): Promise<number | null> {
    let settings = this.settings();
    if (!settings) return null;
    if (settings.mirror_dirty) await this.syncMirror();
    const sink = this.sinkOf(settings);
    const generation = this.generation;
    let more = false;
    if (this.mayBeBehind) {
      this.mayBeBehind = false;
      try {
        ({ more } = await tailFeed(this.env.DB, this.sql, this.ctx.storage, {
          sink,
          stale: () => this.removed || this.generation !== generation,
        }));
      } finally {
        // It moved the checkpoint and the feed's end in the row.
        this.settingsChanged();
      }
      if (more) this.mayBeBehind = true;
    }
    settings = this.settings();
    if (!settings) return null;
    let cutShort = false;
    if (settings.status === "active") {
      // The previous run's deliveries are all back: nothing compares these any more.
      this.rowsVersions.clear();
      const config = webhookConfig(this.env);
      ({ cutShort } = await deliverDue({
        sql: this.sql,
        sink,
        retry: {
          baseMs: config.WEBHOOK_RETRY_BASE_SECONDS * 1000,
          capMs: config.WEBHOOK_RETRY_MAX_SECONDS * 1000,
          maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
        },
        mayContinue: () => !this.removed && this.settings()?.status === "active",
        removed: () => this.removed,
        rowsVersion: (userId) => this.rowsVersions.get(userId) ?? 0,
        heldBack: () => this.rewriting,
        deadline: Date.now() + ROUND_MS,
        onOutcome: (outcome, row) => this.noteOutcome(outcome, row),
      }));
    }
    settings = this.settings();
    if (!settings) return null;
    if (settings.mirror_dirty) await this.syncMirror();
    store.pruneDelivered(this.sql, KEEP_DELIVERED);
    const times: number[] = [];
    if (more || cutShort) times.push(Date.now());
    const due = settings.status === "active" ? store.nextDueAt(this.sql) : null;
    if (due !== null) times.push(due);
    if (this.settings()?.mirror_dirty) times.push(Date.now() + SAFETY_MS);
    return times.length > 0 ? Math.min(...times) : null;
  }

  private noteOutcome(outcome: DeliveryOutcome, row: store.DeliveryRow): void {
    if (outcome.outcome === "skipped") return;
    const now = new Date().toISOString();
    const changes: Partial<store.SettingsRow> = {
      last_delivery: JSON.stringify({ at: now, status_code: outcome.status, ms: outcome.ms }),
    };
    const settings = this.settings();
    if (outcome.outcome === "delivered") changes.failing_since = null;
    else changes.failing_since = settings?.failing_since ?? now;
    if (outcome.outcome === "gone") {
      changes.status = "disabled";
      changes.updated_at = now;
      changes.mirror_dirty = 1;
      log("warn", "webhook answered 410 Gone: subscription disabled", { subscription: settings?.id ?? null });
    }
    if (outcome.outcome === "retry" && row.attempts + 1 >= webhookConfig(this.env).WEBHOOK_MAX_ATTEMPTS) {
      log("warn", "webhook delivery dead", { subscription: settings?.id ?? null, event_id: row.event_id });
    }
    this.changeSettings(changes);
  }

  private sinkOf(settings: store.SettingsRow): Sink {
    if (settings.kind === "mail") return mailSink(this.env);
    const config = webhookConfig(this.env);
    const secrets = [settings.secret, (settings.previous_until ?? 0) > Date.now() ? settings.previous_secret : null];
    return webhookSink({
      url: settings.url ?? "",
      secrets: secrets.filter((s): s is string => s !== null),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    });
  }

  private async viewOf(settings: store.SettingsRow): Promise<SubscriptionView> {
    const position = store.position(this.sql, settings.checkpoint);
    let end = settings.feed_end;
    try {
      end = Math.max(end, await feedEnd(this.env.DB));
    } catch {
      // The lag as of the last read of the feed is still a fair answer.
    }
    return {
      id: settings.id,
      kind: settings.kind,
      url: settings.url,
      event_types: JSON.parse(settings.event_types) as string[],
      description: settings.description,
      status: settings.status,
      position,
      lag: { events_behind: Math.max(0, end - position), oldest_undelivered_at: store.oldestUndeliveredAt(this.sql) },
      last_delivery: settings.last_delivery
        ? (JSON.parse(settings.last_delivery) as SubscriptionView["last_delivery"])
        : null,
      failing_since: settings.failing_since,
      created_at: settings.created_at,
    };
  }

  private async syncMirror(): Promise<void> {
    const settings = this.settings();
    if (!settings) return;
    try {
      await writeMirror(this.env.DB, settings);
      // Only if nothing changed meanwhile: a newer change must be written too.
      const after = this.settings();
      if (after && after.updated_at === settings.updated_at) this.changeSettings({ mirror_dirty: 0 });
    } catch (error) {
      log("warn", "subscription row not written to D1; the alarm retries", { error: String(error) });
    }
  }

  /** Asks for a run now; the alarm is the object's one timer, so it is always set to the earliest need. */
  private async arm(): Promise<void> {
    this.wakes++;
    this.mayBeBehind = true;
    const at = this.nextRunAt();
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}

/** `whsec_` and 32 random bytes in base64, as Standard Webhooks secrets are written. */
function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}
