import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Policy, UserCommand } from "../domain/commands";
import { decide } from "../domain/decide";
import { redact, type EventMetadata, type PublicEvent, type RecordedEvent } from "../domain/events";
import { lift, planImport, type StoredEvent } from "../domain/import";
import { identityKey } from "../domain/rules";
import {
  REVOKING_EVENTS,
  acceptsToken,
  fold,
  initialState,
  isGone,
  publicUser,
  revokesTokens,
  type PublicUser,
  type UserState,
} from "../domain/user";
import {
  append,
  deleteMeta,
  destroyPersonalData,
  getMeta,
  outboxBacklog,
  outboxIsEmpty,
  readEvents,
  readEventsUntil,
  record,
  setMeta,
  storedIds,
} from "./event-store";
import { latestSnapshot, maybeSnapshot } from "./snapshots";
import { findIdempotencyRecord, saveIdempotencyRecord, scopedKey } from "./idempotency";
import { flushOutbox, reconcileOutbox } from "./outbox";
import { HASHING_METHOD, hashPassword, needsRehash, verifyPassword } from "./passwords";
import {
  TOKEN_REFUSED,
  type CommandRequest,
  type CommandResult,
  type ImportResult,
  type LoginResult,
  type SelfCaller,
  type TokenRefused,
  type WriteRejection,
} from "./protocol";
import { hasSchema, migrate } from "./schema";
import { claimAll, forgetAll, prepare, releaseAll, type Field } from "./prepare";
import { heldBy, identitiesToFree, planCommand, stillHolds } from "../domain/plan";
import { loginThrottle } from "./login-throttle";
import { CLOSE, PING, PONG, WATCH_HEADER, type WatchRequest, type WatchTarget } from "../live/protocol";
import { Watchers, type Watch } from "../live/watchers";
import { forgetTickets, issueTicket, redeemTicket } from "./tickets";
import { revokeWatches } from "../live/targets";

type Success = Extract<CommandResult, { ok: true }>;

/**
 * When the alarm first looks at what the read side confirmed, and publishes what an in-request
 * publish did not (a crash, a failing queue).
 */
const PUBLISH_SAFETY_NET_MS = 5_000;

/**
 * The command side of one user: it serialises the user's writes and owns the user's event stream.
 * Every command is decided and appended in one storage transaction, with its outbox rows, its
 * idempotency record and the alarm that will publish it: all or nothing.
 */
export class UserStream extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /**
   * The user's state, folded on first use rather than on waking: a read of the stream (a rebuild, a
   * replay, an export) wakes many objects and needs none of it. Null until then.
   */
  private folded: UserState | null = initialState;
  private aggregateId: string | null = null;
  private publishing: Promise<void> | null = null;
  /**
   * What the next publish sends: the events commits handed over since the last one, or "storage"
   * when the outbox must be read (an import, an erasure, which the copies in memory predate).
   */
  private toPublish: RecordedEvent[] | "storage" = [];
  private readonly watchers: Watchers = new Watchers(this.ctx, {
    source: { head: () => this.state.revision, read: (from, limit) => this.readStream(from, limit) },
    confirm: (watch) => this.confirmWatcher(watch),
    gone: (watcher) => this.watcherGone(watcher),
  });
  /**
   * Whether this object has storage. An object is created by its first committed event, never by a
   * read, a rejected command or a failed login: ids anyone can make up must not cost storage.
   */
  private stored = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    void ctx.blockConcurrencyWhile(() => {
      this.stored = hasSchema(this.sql);
      if (!this.stored) return Promise.resolve();
      migrate(this.sql);
      this.aggregateId = getMeta(this.sql, "aggregate_id");
      if (this.aggregateId) this.folded = null;
      this.watchers.wake();
      return this.rearm();
    });
  }

  private get state(): UserState {
    if (this.folded) return this.folded;
    const snapshot = latestSnapshot(this.sql) ?? initialState;
    this.folded = fold(readEvents(this.sql, this.aggregateId!, snapshot.revision + 1), snapshot);
    return this.folded;
  }

  private set state(next: UserState) {
    this.folded = next;
  }

  async execute(request: CommandRequest): Promise<CommandResult> {
    const early = this.precheck(request);
    if (early) return early;
    const services = this.services();
    // The plan's I/O (hashing, uniqueness claims) awaits, which lets other requests in: the
    // transaction decides on the state as it is then, and a plan whose facts no longer hold is redone.
    for (let attempt = 0; attempt < 3; attempt++) {
      const planned = planCommand(this.state, request.input, this.policy(), request.role);
      if (!planned.ok) return planned;
      const plan = planned.value;
      const prepared = await prepare(plan, request.userId, services);
      if (!prepared.ok) return prepared;
      // The transaction is synchronous: the state it decides on is the state right now.
      const before = this.state;
      const { outcome, events } = this.commit(request, prepared.command, (now) => stillHolds(plan, now));
      const committed = outcome !== "stale" && outcome.ok;
      if (committed) {
        this.publishSoon(events);
        this.announce(events);
      }
      const free = identitiesToFree(prepared.claimed, committed ? before : this.state, this.state);
      await Promise.all([
        releaseAll(services, request.userId, free.release),
        forgetAll(services, request.userId, free.forget),
      ]);
      if (outcome !== "stale") return outcome;
    }
    return { ok: false, rejection: { code: "Busy" } };
  }

  /**
   * Imports this user's events with their ids, revisions and times. Events the stream holds are
   * skipped; a conflict or a gap rejects them all. The username and email the user ends up holding
   * are claimed in their registries like any command's (a deleted user holds none), and the events
   * are appended with their outbox rows in one transaction: the read model fills through the queue.
   */
  async importEvents(events: StoredEvent[]): Promise<ImportResult> {
    const userId = events[0]?.aggregate_id;
    if (!userId || events.some((event) => event.aggregate_id !== userId)) throw new Error("one user per import call");
    const services = this.services();
    // Claims await, which lets other requests in: the transaction plans again and redoes a stale claim.
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = this.planImport(events);
      if (!plan.ok) return { ok: false, error: plan.error, eventId: plan.event.id };
      if (plan.append.length === 0) return { ok: true, imported: 0, skipped: plan.skipped };
      const wanted = identities(plan.after);
      const claims = await claimAll(services, userId, wanted);
      if (!claims.ok) {
        const taken = claims.rejection.code === "IdentityTaken" ? claims.rejection : null;
        const by = plan.append.findLast((event) => taken && lift(event).data[taken.field as never] === taken.value);
        const error = taken ? `${taken.field} '${taken.value}' is taken by another user` : "identity not available";
        return { ok: false, error, eventId: (by ?? plan.append[0]!).id };
      }
      const before = this.state;
      const outcome = this.ctx.storage.transactionSync(() => {
        const now = this.planImport(events);
        if (!now.ok || !sameKeys(heldBy(now.after), heldBy(plan.after))) return "stale" as const;
        if (!this.stored) migrate(this.sql);
        const at = Date.now();
        const armAlarm = outboxIsEmpty(this.sql);
        for (const event of now.append) append(this.sql, event, at);
        if (!this.aggregateId) {
          setMeta(this.sql, "aggregate_id", userId);
          this.aggregateId = userId;
        }
        if (armAlarm) void this.ctx.storage.setAlarm(at + PUBLISH_SAFETY_NET_MS);
        this.state = now.after;
        maybeSnapshot(this.sql, before.revision, this.state, config(this.env).SNAPSHOT_EVERY);
        this.stored = true;
        return { ok: true as const, imported: now.append.length, skipped: now.skipped };
      });
      if (outcome === "stale") {
        await releaseAll(services, userId, keysNotIn(heldBy(plan.after), heldBy(before)));
        continue;
      }
      this.publishSoon(null);
      // Watchers see imported events like any others, as stored.
      this.announce(readEvents(this.sql, userId, before.revision + 1));
      // Names the user held before and no longer does (deleted, email changed) are free again.
      await releaseAll(services, userId, keysNotIn(heldBy(before), heldBy(plan.after)));
      return outcome;
    }
    return { ok: false, error: "the user's stream kept changing during the import; retry", eventId: null };
  }

  getUser(): { revision: number; user: PublicUser | null } {
    const { user, revision } = this.state;
    return { revision, user: user ? publicUser(user, revision) : null };
  }

  /**
   * The user a token issued at `issuedAtRevision` acts for, or null: unknown, not active, or the
   * token predates the latest password change, suspension, deletion or erasure.
   */
  tokenHolder(issuedAtRevision: number): PublicUser | null {
    const { user, revision } = this.state;
    return user && acceptsToken(user, issuedAtRevision) ? publicUser(user, revision) : null;
  }

  /** What operations need to see: how far the stream is, and what still waits to be published. */
  status(): { revision: number; outboxSize: number; oldestOutboxAt: number | null } {
    if (!this.stored) return { revision: 0, outboxSize: 0, oldestOutboxAt: null };
    const { size, oldest } = outboxBacklog(this.sql);
    return { revision: this.state.revision, outboxSize: size, oldestOutboxAt: oldest };
  }

  /**
   * The user as it was at a revision or an instant: null if it did not exist yet. A user reading
   * its own history passes its token (`caller`), checked here in the same call.
   */
  history(until: { revision?: number; timestamp?: string }, caller?: SelfCaller): PublicUser | null | TokenRefused {
    if (caller && !this.acceptsCaller(this.aggregateId, caller)) return TOKEN_REFUSED;
    if (!this.aggregateId) return null;
    const state = fold(readEventsUntil(this.sql, this.aggregateId, until));
    return state.user ? publicUser(state.user, state.revision) : null;
  }

  /** The stream as it may leave the object: secrets redacted. */
  readStream(fromRevision: number, limit: number): PublicEvent[] {
    if (!this.aggregateId) return [];
    return readEvents(this.sql, this.aggregateId, fromRevision, limit).map(redact);
  }

  /**
   * The stream for `GET /admin/export`: as every reader sees it, with the password hashes only for
   * a backup, and without this deployment's import marks, so that the export of a restored service
   * is the file it was restored from.
   */
  exportEvents(fromRevision: number, limit: number, secrets: boolean): PublicEvent[] {
    if (!this.aggregateId) return [];
    return readEvents(this.sql, this.aggregateId, fromRevision, limit).map((event) => {
      const { import_request_id: _mark, ...metadata } = event.metadata;
      return { ...(secrets ? event : redact(event)), metadata };
    });
  }

  /**
   * A page of the audit trail, optionally only events within `[from, to]` (ISO times, inclusive);
   * null for a user that never existed, so the caller can answer 404 instead of an empty page. A
   * user reading its own passes its token (`caller`), checked here in the same call.
   */
  auditTrail(
    query: { fromRevision: number; limit: number; fromTimestamp?: string; toTimestamp?: string },
    caller?: SelfCaller,
  ): PublicEvent[] | null | TokenRefused {
    if (caller && !this.acceptsCaller(this.aggregateId, caller)) return TOKEN_REFUSED;
    if (!this.aggregateId) return null;
    return readEvents(this.sql, this.aggregateId, query.fromRevision, query.limit, {
      from: query.fromTimestamp,
      to: query.toTimestamp,
    }).map(redact);
  }

  /**
   * A login: the password checked, failures throttled, and a success recorded as USER_LOGGED_IN in
   * the same way as any command. The token is issued at the revision of that event.
   */
  async authenticate(password: string, requestId: string | null = null): Promise<LoginResult> {
    const { user } = this.state;
    if (!this.stored || !user) return { ok: false, reason: "invalid" };
    const throttle = loginThrottle(this.sql, Date.now());
    const retryAfterSeconds = throttle.retryAfterSeconds();
    if (retryAfterSeconds > 0) return { ok: false, reason: "throttled", retryAfterSeconds };
    const valid = await verifyPassword(password, user.password_hash);
    if (!valid || this.state.user?.status !== "active") {
      throttle.recordFailure();
      return { ok: false, reason: "invalid" };
    }
    throttle.clear();
    // An imported hash is upgraded first (PASSWORD_REHASHED), then the login is recorded.
    if (needsRehash(user.password_hash)) await this.rehash(password, user.password_hash, requestId);
    const metadata: EventMetadata = {
      actor_id: user.id,
      actor_username: user.username,
      request_id: requestId,
      idempotency_key: null,
      reason: null,
    };
    const command: UserCommand = { type: "RecordLogin", method: "password" };
    const { outcome, events } = this.commit({ userId: user.id, metadata }, command, () => true);
    if (outcome === "stale" || !outcome.ok) return { ok: false, reason: "invalid" };
    this.publishSoon(events);
    this.announce(events);
    const now = this.state;
    if (!now.user) return { ok: false, reason: "invalid" };
    return { ok: true, revision: now.revision, user: publicUser(now.user, now.revision) };
  }

  /**
   * After a login with an imported hash: the same password under our own hash, by PASSWORD_REHASHED,
   * carrying the login's request id (the login caused it).
   */
  private async rehash(password: string, verified_hash: string, requestId: string | null): Promise<void> {
    const userId = this.aggregateId!;
    const result = await this.execute({
      userId,
      input: { type: "RehashPassword", verified_hash, new_password_hash: await this.services().hash(password) },
      metadata: {
        actor_id: userId,
        actor_username: this.state.user?.username ?? null,
        request_id: requestId,
        idempotency_key: null,
        reason: "password hash upgraded at login",
      },
    });
    // A password changed meanwhile only means there is nothing to upgrade: the login stands.
    if (!result.ok)
      console.warn(JSON.stringify({ msg: "password rehash skipped", userId, code: result.rejection.code }));
  }

  /** Whether this user, live, holds a username or email key: the truth behind the registry. */
  holdsIdentity(key: string): boolean {
    const user = this.state.user;
    if (!user || isGone(user)) return false;
    return key === identityKey("username", user.username) || key === identityKey("email", user.email);
  }

  override async alarm(): Promise<void> {
    if (this.aggregateId) await reconcileOutbox(this.ctx, this.env, this.aggregateId);
    await this.revokeRemoteWatches();
  }

  /**
   * A watcher's upgrade, authorised by the Worker (self or admin), which put the watcher in
   * WATCH_HEADER. Accepted through the hibernation API: first the stored events from
   * `fromRevision`, then `caught_up`, then every commit.
   */
  override fetch(request: Request): Response {
    const header = request.headers.get(WATCH_HEADER);
    if (request.headers.get("Upgrade") !== "websocket" || !header) return new Response(null, { status: 426 });
    const watch = JSON.parse(header) as WatchRequest;
    if (!this.aggregateId) return new Response(null, { status: 404 });
    if (watch.fromRevision !== null && watch.fromRevision > this.state.revision + 1) {
      return new Response(null, { status: 422, headers: { "x-revision": String(this.state.revision) } });
    }
    return new Response(null, { status: 101, webSocket: this.watchers.accept(watch) });
  }

  override webSocketMessage(ws: WebSocket): void {
    this.watchers.messageFromClient(ws);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.watchers.closedByClient(ws, code);
  }

  /** Asked by the object of a stream this user watches: does its credential still hold? */
  watching(target: WatchTarget, authRevision: number): boolean {
    const user = this.state.user;
    if (!user || user.status !== "active" || revokedSince(this.sql, authRevision)) return false;
    this.sql.exec("INSERT INTO watching (target) VALUES (?) ON CONFLICT DO NOTHING", target);
    return true;
  }

  /** This user's last socket on `target` closed. */
  unwatched(target: WatchTarget): void {
    this.sql.exec("DELETE FROM watching WHERE target = ?", target);
  }

  /** The watcher's credentials were revoked at `revokedAt`: close its older sockets here. */
  revokeWatcher(watcher: string, revokedAt: number): void {
    this.watchers.revoke(watcher, revokedAt);
  }

  /** Open sockets on this stream. */
  watcherCount(): number {
    return this.watchers.count();
  }

  /**
   * A single-use ticket for this user, asked with its own token: refused unless the user still
   * accepts that token (active, not revoked since). `now` comes from the caller.
   */
  async ticket(now: number, caller: SelfCaller): Promise<{ secret: string; expiresIn: number } | TokenRefused> {
    if (!this.acceptsCaller(this.aggregateId, caller)) return TOKEN_REFUSED;
    return issueTicket(this.sql, now);
  }

  /** Uses up a ticket: the user as `getUser()` gives it if the ticket was valid and the user active. */
  async redeemTicket(secret: string, now: number): Promise<{ revision: number; user: PublicUser } | null> {
    // A ticket naming a user that never existed must not create its storage.
    if (!this.stored || !(await redeemTicket(this.sql, secret, now))) return null;
    const { revision, user } = this.getUser();
    return user?.status === "active" ? { revision, user } : null;
  }

  /**
   * After a commit, in the same synchronous step: the watchers get the events; an erasure closes
   * every watcher, a revocation of this user's credentials the sockets it opened, here and elsewhere.
   */
  private announce(events: RecordedEvent[]): void {
    this.watchers.deliver(events.map(redact));
    const revokedAt = revocationIn(events);
    if (events.some((event) => event.event_type === "USER_ERASED")) this.watchers.closeAll(CLOSE.erased);
    else if (revokedAt !== null && this.aggregateId) this.watchers.revoke(this.aggregateId, revokedAt);
    if (revokedAt !== null) this.ctx.waitUntil(this.revokeRemoteWatches());
  }

  private confirmWatcher(watch: Watch): boolean | Promise<boolean> {
    if (watch.watcher === this.aggregateId) return true;
    return this.env.USER_STREAM.getByName(watch.watcher).watching(`user:${this.aggregateId}`, watch.authRevision);
  }

  private watcherGone(watcher: string): void {
    if (watcher === this.aggregateId) return;
    this.ctx.waitUntil(
      this.env.USER_STREAM.getByName(watcher)
        .unwatched(`user:${this.aggregateId}`)
        .catch(() => undefined),
    );
  }

  /** Closes this user's sockets on other streams after a revocation; the alarm retries failures. */
  private async revokeRemoteWatches(): Promise<void> {
    const pending = getMeta(this.sql, "revoke_watches_before");
    if (pending === null || !this.aggregateId) return;
    const done = await revokeWatches(this.env, this.sql, this.aggregateId, Number(pending));
    if (done && getMeta(this.sql, "revoke_watches_before") === pending) deleteMeta(this.sql, "revoke_watches_before");
    else if (!done) await this.ctx.storage.setAlarm(Date.now() + PUBLISH_SAFETY_NET_MS);
  }

  /**
   * Publishes right after a commit instead of waiting for the alarm (one scheduling hop and one
   * alarm per command less), from the events the commit holds: nothing is read back. Runs of
   * commits share one flush; the alarm set in the transaction stays the safety net, and alone
   * retries while the queue is failing (with its backoff), reading the outbox from storage.
   * `committed` null: what to publish is in storage only (an import).
   */
  private publishSoon(committed: readonly RecordedEvent[] | null): void {
    if (committed === null || committed.some((event) => event.event_type === "USER_ERASED")) {
      this.toPublish = "storage";
    } else if (this.toPublish !== "storage") {
      this.toPublish.push(...committed);
    }
    if (this.publishing) return;
    this.publishing = (async () => {
      while (this.toPublish === "storage" || this.toPublish.length > 0) {
        // While the queue refuses, the alarm alone retries (with its backoff), from storage.
        if (Number(getMeta(this.sql, "flush_failures") ?? 0) > 0) {
          this.toPublish = [];
          return;
        }
        const taken = this.toPublish;
        this.toPublish = [];
        await this.publishUnsent(taken === "storage" ? null : taken);
      }
    })().finally(() => {
      this.publishing = null;
    });
    this.ctx.waitUntil(this.publishing);
  }

  /** Publishes `inHand` as they are, or what the outbox holds unsent when null. */
  private async publishUnsent(inHand: RecordedEvent[] | null): Promise<void> {
    if (!this.aggregateId) return;
    await flushOutbox(
      this.ctx,
      this.env,
      this.aggregateId,
      inHand && { events: inHand, publishable: () => !this.erased() },
    );
  }

  private erased(): boolean {
    return this.state.user?.status === "erased";
  }

  private planImport(events: StoredEvent[]) {
    const { storedIdAt, revisionOfId } = this.stored
      ? storedIds(this.sql, events)
      : { storedIdAt: new Map<number, string>(), revisionOfId: new Map<string, number>() };
    return planImport(this.state, events, storedIdAt, revisionOfId);
  }

  /**
   * On waking: an outbox with rows needs an alarm. One can be lost when the process dies at the
   * wrong moment (a running alarm is already cleared); this puts it back whenever the object wakes.
   */
  private async rearm(): Promise<void> {
    if (outboxIsEmpty(this.sql) || (await this.ctx.storage.getAlarm()) !== null) return;
    await this.ctx.storage.setAlarm(Date.now() + PUBLISH_SAFETY_NET_MS);
  }

  private services() {
    const iterations = config(this.env).PASSWORD_HASH_ITERATIONS;
    return {
      hash: (password: string) => hashPassword(password, iterations),
      verify: verifyPassword,
      claim: (key: string, owner: string) => this.env.IDENTITY_REGISTRY.getByName(key).claim(key, owner),
      release: (key: string, owner: string) => this.env.IDENTITY_REGISTRY.getByName(key).release(owner),
      forget: (key: string, owner: string) => this.env.IDENTITY_REGISTRY.getByName(key).forget(owner),
    };
  }

  private policy(): Policy {
    return { passwordMinLength: config(this.env).PASSWORD_MIN_LENGTH, hashingMethod: HASHING_METHOD };
  }

  /**
   * Answers that need no decision: a caller's token this user no longer accepts, a replayed
   * idempotent request, a stale `If-Match`.
   */
  private precheck(request: Omit<CommandRequest, "input">): CommandResult | null {
    if (request.caller && !this.acceptsCaller(request.metadata.actor_id, request.caller)) {
      return rejected({ code: "TokenRefused" });
    }
    if (request.idempotency && this.stored) {
      const seen = findIdempotencyRecord<Success>(this.sql, scopedKey(request.metadata, request.idempotency.key));
      if (seen) {
        return seen.fingerprint === request.idempotency.fingerprint
          ? { ...seen.result, replayed: true }
          : rejected({ code: "IdempotencyKeyReused" });
      }
    }
    const expected = request.expectedRevision;
    if (expected !== undefined && expected !== this.state.revision) {
      return rejected({ code: "RevisionMismatch", current_revision: this.state.revision });
    }
    return null;
  }

  /** A self-command's token: this user, as the token says, and still accepting it. */
  private acceptsCaller(actorId: string | null, caller: SelfCaller): boolean {
    const user = this.state.user;
    return !!user && user.id === actorId && user.role === caller.role && acceptsToken(user, caller.issuedAt);
  }

  /** The events' metadata; a self-command's actor is named as the stream has it now. */
  private metadataOf(request: Omit<CommandRequest, "input">): EventMetadata {
    const user = this.state.user;
    return request.caller && user ? { ...request.metadata, actor_username: user.username } : request.metadata;
  }

  /** Decides `command` on the state as it is, and appends what it emits: once, in one transaction. */
  private commit(
    request: Omit<CommandRequest, "input">,
    command: UserCommand,
    factsHold: (state: UserState) => boolean,
  ): { outcome: CommandResult | "stale"; events: RecordedEvent[] } {
    return this.ctx.storage.transactionSync(() => {
      const early = this.precheck(request);
      if (early) return { outcome: early, events: [] };
      if (!factsHold(this.state)) return { outcome: "stale", events: [] };
      const decision = decide(this.state, command, this.policy());
      if (!decision.ok) return { outcome: rejected(decision.rejection), events: [] };
      // The first accepted event creates the object's storage, in the same transaction.
      if (!this.stored) migrate(this.sql);
      const now = Date.now();
      const events = record({
        aggregateId: request.userId,
        fromRevision: this.state.revision,
        events: decision.events,
        ids: decision.events.map(() => crypto.randomUUID()),
        timestamp: new Date(now).toISOString(),
        metadata: this.metadataOf(request),
      });
      // Before the tombstone is appended: it names the admin who erased, and that stays.
      if (events.some((event) => event.event_type === "USER_ERASED")) destroyPersonalData(this.sql, request.userId);
      // The alarm runs until the outbox is empty again; the first owed event arms it, later ones
      // must not push it back (a busy user would otherwise never be reconciled).
      const armAlarm = outboxIsEmpty(this.sql);
      for (const event of events) append(this.sql, event, now);
      const revokedAt = revocationIn(events);
      if (revokedAt !== null) {
        forgetTickets(this.sql);
        setMeta(this.sql, "revoke_watches_before", String(revokedAt));
      }
      if (!this.aggregateId) {
        setMeta(this.sql, "aggregate_id", request.userId);
        this.aggregateId = request.userId;
      }
      const result: Success = {
        ok: true,
        userId: request.userId,
        revision: this.state.revision + events.length,
        replayed: false,
      };
      if (request.idempotency) {
        const { key, fingerprint } = request.idempotency;
        saveIdempotencyRecord(this.sql, scopedKey(request.metadata, key), { fingerprint, result }, now);
      }
      // The safety net: publishSoon() normally sends these events at once.
      if (armAlarm) void this.ctx.storage.setAlarm(now + PUBLISH_SAFETY_NET_MS);
      const before = this.state.revision;
      this.state = fold(events, this.state);
      maybeSnapshot(this.sql, before, this.state, config(this.env).SNAPSHOT_EVERY);
      this.stored = true;
      return { outcome: result, events };
    });
  }
}

/** The username and email a user holds: none once deleted or erased. */
function identities(state: UserState): [Field, string][] {
  const user = state.user;
  if (!user || isGone(user)) return [];
  return [
    ["username", user.username],
    ["email", user.email],
  ];
}

const sameKeys = (a: string[], b: string[]) => a.length === b.length && a.every((key) => b.includes(key));

/** The keys of `of` that `but` does not hold. */
const keysNotIn = (of: string[], but: string[]) => of.filter((key) => !but.includes(key));

function rejected(rejection: WriteRejection): CommandResult {
  return { ok: false, rejection };
}

/** The revision of the last revoking event among `events`, or null. */
function revocationIn(events: readonly RecordedEvent[]): number | null {
  return events.findLast((event) => revokesTokens(event.event_type))?.revision ?? null;
}

function revokedSince(sql: SqlStorage, revision: number): boolean {
  const types = [...REVOKING_EVENTS];
  return (
    sql
      .exec(
        `SELECT 1 FROM events WHERE revision > ? AND event_type IN (${types.map(() => "?").join(", ")}) LIMIT 1`,
        revision,
        ...types,
      )
      .toArray().length > 0
  );
}
