import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Policy } from "../domain/commands";
import { decide } from "../domain/decide";
import { redact, type PublicEvent } from "../domain/events";
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
} from "./event-store";
import { latestSnapshot, maybeSnapshot } from "./snapshots";
import { findIdempotencyRecord, saveIdempotencyRecord } from "./idempotency";
import { flushOutbox } from "./outbox";
import { HASHING_METHOD, hashPassword, verifyPassword } from "./passwords";
import type { CommandRequest, CommandResult, LoginResult, WriteRejection } from "./protocol";
import { migrate } from "./schema";
import { prepare, type Prepared } from "./prepare";
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
    return { ok: true, revision, user: publicUser(user, revision) };
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

function rejected(rejection: WriteRejection): CommandResult {
  return { ok: false, rejection };
}
