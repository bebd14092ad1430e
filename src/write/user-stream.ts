import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Policy } from "../domain/commands";
import { decide } from "../domain/decide";
import { redact, type PublicEvent } from "../domain/events";
import { lift, planImport, type StoredEvent } from "../domain/import";
import { identityKey } from "../domain/rules";
import { fold, initialState, isGone, publicUser, type PublicUser, type UserState } from "../domain/user";
import {
  append,
  destroyPersonalData,
  getMeta,
  outboxBacklog,
  readEvents,
  readEventsUntil,
  record,
  setMeta,
  storedIds,
} from "./event-store";
import { latestSnapshot, maybeSnapshot } from "./snapshots";
import { findIdempotencyRecord, saveIdempotencyRecord } from "./idempotency";
import { flushOutbox } from "./outbox";
import { HASHING_METHOD, hashPassword, needsRehash, verifyPassword } from "./passwords";
import type { CommandRequest, CommandResult, ImportResult, LoginResult, WriteRejection } from "./protocol";
import { migrate } from "./schema";
import { claimAll, prepare, releaseAll, type Field, type Prepared } from "./prepare";
import { loginThrottle } from "./login-throttle";

type Success = Extract<CommandResult, { ok: true }>;

/** When the alarm publishes what an in-request publish did not (a crash, a failing queue). */
const PUBLISH_SAFETY_NET_MS = 5_000;

/**
 * The command side of one user: it serialises the user's writes and owns the user's event stream.
 * Every command is decided and appended in one storage transaction, with its outbox rows, its
 * idempotency record and the alarm that will publish it: all or nothing.
 */
export class UserStream extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  private state: UserState = initialState;
  private aggregateId: string | null = null;
  private publishing: Promise<void> | null = null;
  private publishAgain = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(() => {
      migrate(this.sql);
      this.aggregateId = getMeta(this.sql, "aggregate_id");
      if (this.aggregateId) {
        const snapshot = latestSnapshot(this.sql) ?? initialState;
        this.state = fold(readEvents(this.sql, this.aggregateId, snapshot.revision + 1), snapshot);
      }
      return Promise.resolve();
    });
  }

  async execute(request: CommandRequest): Promise<CommandResult> {
    const early = this.precheck(request);
    if (early) return early;
    // Hashing and uniqueness claims await, which lets other requests in; the transaction below
    // decides again on the state as it is then, and a stale preparation is redone.
    for (let attempt = 0; attempt < 3; attempt++) {
      const prepared = await prepare(request, this.state, this.services());
      if (!prepared.ok) return prepared;
      // The transaction is synchronous: the state it decides on is the state right now.
      const before = this.state;
      const outcome = this.commit(request, prepared);
      if (outcome !== "stale" && outcome.ok) this.publishSoon();
      await prepared.settle(outcome !== "stale" && outcome.ok, before);
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
        if (!now.ok || keysOf(identities(now.after)) !== keysOf(wanted)) return "stale" as const;
        const at = Date.now();
        for (const event of now.append) append(this.sql, event, at);
        if (!this.aggregateId) {
          setMeta(this.sql, "aggregate_id", userId);
          this.aggregateId = userId;
        }
        void this.ctx.storage.setAlarm(at + PUBLISH_SAFETY_NET_MS);
        this.state = now.after;
        maybeSnapshot(this.sql, before.revision, this.state, Number(this.env.SNAPSHOT_EVERY));
        return { ok: true as const, imported: now.append.length, skipped: now.skipped };
      });
      if (outcome === "stale") {
        await releaseAll(services, userId, newKeys(wanted, identities(before)));
        continue;
      }
      this.publishSoon();
      // Names the user held before and no longer does (deleted, email changed) are free again.
      await releaseAll(services, userId, newKeys(identities(before), wanted));
      return outcome;
    }
    return { ok: false, error: "the user's stream kept changing during the import; retry", eventId: null };
  }

  getUser(): { revision: number; user: PublicUser | null } {
    const { user, revision } = this.state;
    return { revision, user: user ? publicUser(user, revision) : null };
  }

  /** What operations need to see: how far the stream is, and what still waits to be published. */
  status(): { revision: number; outboxSize: number; oldestOutboxAt: number | null } {
    const { size, oldest } = outboxBacklog(this.sql);
    return { revision: this.state.revision, outboxSize: size, oldestOutboxAt: oldest };
  }

  /** The user as it was at a revision or an instant: null if it did not exist yet. */
  history(until: { revision?: number; timestamp?: string }): PublicUser | null {
    if (!this.aggregateId) return null;
    const state = fold(readEventsUntil(this.sql, this.aggregateId, until));
    return state.user ? publicUser(state.user, state.revision) : null;
  }

  /** The stream as it may leave the object: secrets redacted. */
  readStream(fromRevision: number, limit: number): PublicEvent[] {
    if (!this.aggregateId) return [];
    return readEvents(this.sql, this.aggregateId, fromRevision, limit).map(redact);
  }

  async authenticate(password: string): Promise<LoginResult> {
    const throttle = loginThrottle(this.sql, Date.now());
    const retryAfterSeconds = throttle.retryAfterSeconds();
    if (retryAfterSeconds > 0) return { ok: false, reason: "throttled", retryAfterSeconds };
    const { user, revision } = this.state;
    const valid = user !== null && (await verifyPassword(password, user.password_hash));
    if (!valid || !user || user.status !== "active") {
      if (user) throttle.recordFailure();
      return { ok: false, reason: "invalid" };
    }
    throttle.clear();
    if (needsRehash(user.password_hash)) return this.rehash(password, user.password_hash);
    return { ok: true, revision, user: publicUser(user, revision) };
  }

  /** After a login with an imported hash: the same password under our own hash, by PASSWORD_REHASHED. */
  private async rehash(password: string, verified_hash: string): Promise<LoginResult> {
    const userId = this.aggregateId!;
    const result = await this.execute({
      userId,
      input: { type: "RehashPassword", verified_hash, new_password_hash: await this.services().hash(password) },
      metadata: {
        actor_id: userId,
        actor_username: this.state.user?.username ?? null,
        request_id: null,
        idempotency_key: null,
        reason: "password hash upgraded at login",
      },
    });
    // A password changed meanwhile only means there is nothing to upgrade: the login stands.
    if (!result.ok)
      console.warn(JSON.stringify({ msg: "password rehash skipped", userId, code: result.rejection.code }));
    const { user, revision } = this.state;
    return user ? { ok: true, revision, user: publicUser(user, revision) } : { ok: false, reason: "invalid" };
  }

  /** Whether this user, live, holds a username or email key: the truth behind the registry. */
  holdsIdentity(key: string): boolean {
    const user = this.state.user;
    if (!user || isGone(user)) return false;
    return key === identityKey("username", user.username) || key === identityKey("email", user.email);
  }

  override async alarm(): Promise<void> {
    if (this.aggregateId) await flushOutbox(this.ctx, this.env, this.aggregateId);
  }

  /**
   * Publishes right after a commit instead of waiting for the alarm (one scheduling hop and one
   * alarm per command less). Runs of commits share one flush; the alarm set in the transaction
   * stays the safety net, and alone retries while the queue is failing (with its backoff).
   */
  private publishSoon(): void {
    if (this.publishing) {
      this.publishAgain = true;
      return;
    }
    if (Number(getMeta(this.sql, "flush_failures") ?? 0) > 0) return;
    this.publishing = (async () => {
      do {
        this.publishAgain = false;
        await this.alarm();
      } while (this.publishAgain);
    })().finally(() => {
      this.publishing = null;
    });
    this.ctx.waitUntil(this.publishing);
  }

  private planImport(events: StoredEvent[]) {
    const { storedIdAt, revisionOfId } = storedIds(this.sql, events);
    return planImport(this.state, events, storedIdAt, revisionOfId);
  }

  private services() {
    const iterations = config(this.env).PASSWORD_HASH_ITERATIONS;
    return {
      policy: this.policy(),
      hash: (password: string) => hashPassword(password, iterations),
      verify: verifyPassword,
      claim: (key: string, owner: string) => this.env.IDENTITY_REGISTRY.getByName(key).claim(key, owner),
      release: (key: string, owner: string) => this.env.IDENTITY_REGISTRY.getByName(key).release(owner),
    };
  }

  private policy(): Policy {
    return { passwordMinLength: config(this.env).PASSWORD_MIN_LENGTH, hashingMethod: HASHING_METHOD };
  }

  /** Answers that need no decision: a replayed idempotent request, a stale `If-Match`. */
  private precheck(request: CommandRequest): CommandResult | null {
    if (request.idempotency) {
      const seen = findIdempotencyRecord<Success>(this.sql, request.idempotency.key);
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

  private commit(request: CommandRequest, prepared: Extract<Prepared, { ok: true }>): CommandResult | "stale" {
    return this.ctx.storage.transactionSync(() => {
      const early = this.precheck(request);
      if (early) return early;
      if (!prepared.stillValid(this.state)) return "stale";
      const decision = decide(this.state, prepared.command, this.policy());
      if (!decision.ok) return rejected(decision.rejection);
      const now = Date.now();
      const events = record({
        aggregateId: request.userId,
        fromRevision: this.state.revision,
        events: decision.events,
        ids: decision.events.map(() => crypto.randomUUID()),
        timestamp: new Date(now).toISOString(),
        metadata: request.metadata,
      });
      // Before the tombstone is appended: it names the admin who erased, and that stays.
      if (events.some((event) => event.event_type === "USER_ERASED")) destroyPersonalData(this.sql, request.userId);
      for (const event of events) append(this.sql, event, now);
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
        saveIdempotencyRecord(this.sql, key, { fingerprint, result }, now);
      }
      // The safety net: publishSoon() normally sends these events at once.
      void this.ctx.storage.setAlarm(now + PUBLISH_SAFETY_NET_MS);
      const before = this.state.revision;
      this.state = fold(events, this.state);
      maybeSnapshot(this.sql, before, this.state, config(this.env).SNAPSHOT_EVERY);
      return result;
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

const keysOf = (wanted: [Field, string][]) =>
  wanted
    .map(([field, value]) => identityKey(field, value))
    .sort()
    .join("\n");

/** The keys of `of` that `but` does not hold. */
function newKeys(of: [Field, string][], but: [Field, string][]): string[] {
  const held = new Set(but.map(([field, value]) => identityKey(field, value)));
  return of.map(([field, value]) => identityKey(field, value)).filter((key) => !held.has(key));
}

function rejected(rejection: WriteRejection): CommandResult {
  return { ok: false, rejection };
}
