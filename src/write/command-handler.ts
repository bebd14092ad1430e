import { config } from "../config";
import type { CommandInput, PlanInput, Policy, RevertTarget, UserCommand } from "../domain/commands";
import { decide } from "../domain/decide";
import type { EventMetadata, RecordedEvent } from "../domain/events";
import { identitiesToFree, planCommand, stillHolds, withFacts } from "../domain/plan";
import { fold, initialState, type UserState } from "../domain/user";
import { append, destroyPersonalData, outboxIsEmpty, readEventsUntil, record, setMeta } from "./event-store";
import { findIdempotencyRecord, saveIdempotencyRecord, scopedKey } from "./idempotency";
import { HASHING_METHOD } from "./passwords";
import { identityRegistry } from "./identity-shards";
import { forgetAll, prepare, releaseAll, services } from "./prepare";
import type { CommandRequest, CommandResult, RevertPreview, WriteRejection } from "./protocol";
import type { Publisher } from "./publisher";
import { maybeSnapshot } from "./snapshots";
import type { StreamContext } from "./stream-context";
import type { StreamWatchers } from "./stream-watchers";
import { revocationIn } from "../domain/fields";
import { forgetTickets } from "./tickets";

type Success = Extract<CommandResult, { ok: true }>;
/** A request as the transaction sees it: its command comes apart, planned and prepared, or made by the object (a login). */
export type CommitRequest = Omit<CommandRequest, "input">;
export type Outcome = { outcome: CommandResult | "stale"; events: RecordedEvent[] };

/**
 * The command side of one user: a command is planned on the state, its I/O performed (password
 * checks, hashes, uniqueness claims), then decided and appended in one storage transaction with its
 * outbox rows, its idempotency record and the alarm that will publish it: all or nothing.
 */
export class CommandHandler {
  constructor(
    private readonly stream: StreamContext,
    private readonly publisher: Publisher,
    private readonly watchers: StreamWatchers,
  ) {}

  async execute(request: CommandRequest): Promise<CommandResult> {
    const early = this.precheck(request);
    if (early) return early;
    const io = services(this.stream.env);
    // The plan's I/O awaits, which lets other requests in: the transaction decides on the state as
    // it is then, and a plan whose facts no longer hold is redone.
    for (let attempt = 0; attempt < 3; attempt++) {
      const planned = planCommand(this.stream.current, this.withPast(request.input), this.policy(), request.role);
      if (!planned.ok) return planned;
      const plan = planned.value;
      const prepared = await prepare(plan, request.userId, io);
      if (!prepared.ok) return prepared;
      const before = this.stream.current;
      const { outcome, events } = this.commit(request, prepared.command, (now) => stillHolds(plan, now));
      const committed = outcome !== "stale" && outcome.ok;
      if (committed && events.length > 0) this.afterCommit(events);
      const free = identitiesToFree(prepared.claimed, committed ? before : this.stream.current, this.stream.current);
      await Promise.all([releaseAll(io, request.userId, free.release), forgetAll(io, request.userId, free.forget)]);
      if (outcome !== "stale") return outcome;
    }
    return rejected({ code: "Busy" });
  }

  /** The input a plan is made for: a revert's target read from the stream, as the state it names. */
  withPast(input: CommandInput): PlanInput {
    if (input.type !== "RevertUser") return input;
    return { type: "RevertUser", then: this.stateAt(input.to), reason: input.reason };
  }

  /** The user as it was at a revision or an instant: the stream folded up to it (nothing before it). */
  stateAt(to: RevertTarget): UserState {
    const userId = this.stream.userId;
    if (!userId) return initialState;
    return fold(readEventsUntil(this.stream.sql, userId, to));
  }

  /** What follows a command's commit, in the same synchronous step: the publish, then the watchers. */
  afterCommit(events: RecordedEvent[]): void {
    this.publisher.afterCommit(events);
    this.watchers.deliver(events);
  }

  /**
   * Decides `command` on the state as it is, and appends what it emits: once, in one transaction.
   * The prechecks run again inside it, as the awaits before it let other commands in.
   */
  commit(request: CommitRequest, command: UserCommand, factsHold: (state: UserState) => boolean): Outcome {
    return this.stream.ctx.storage.transactionSync(() => {
      const early = this.precheck(request);
      if (early) return { outcome: early, events: [] };
      const state = this.stream.current;
      if (!factsHold(state)) return { outcome: "stale", events: [] };
      const decision = decide(state, command, this.policy());
      if (!decision.ok) return { outcome: rejected(decision.rejection), events: [] };
      const sql = this.stream.sql;
      // Nothing to change (a revert to the state the user is in): no event, only the idempotency record.
      if (decision.events.length === 0) {
        const unchanged: Success = {
          ok: true,
          userId: request.userId,
          revision: state.revision,
          replayed: false,
          events: [],
        };
        this.remember(request, unchanged, Date.now());
        return { outcome: unchanged, events: [] };
      }
      // The first accepted event creates the object's storage, in the same transaction.
      this.stream.prepareStorage(request.userId);
      const now = Date.now();
      const events = record({
        aggregateId: request.userId,
        fromRevision: state.revision,
        events: decision.events,
        ids: decision.events.map(() => crypto.randomUUID()),
        timestamp: new Date(now).toISOString(),
        metadata: this.metadataOf(request),
      });
      // Before the tombstone is appended: it names the admin who erased, and that stays.
      if (events.some((event) => event.event_type === "USER_ERASED")) destroyPersonalData(sql, request.userId);
      const outboxWasEmpty = outboxIsEmpty(sql);
      const sentAt = this.publisher.claims(events) ? now : null;
      for (const event of events) append(sql, event, now, sentAt);
      const revokedAt = revocationIn(events);
      if (revokedAt !== null) {
        forgetTickets(sql);
        setMeta(sql, "revoke_watches_before", String(revokedAt));
      }
      const result: Success = {
        ok: true,
        userId: request.userId,
        revision: state.revision + events.length,
        replayed: false,
      };
      // A revert answers which events it appended: how many and which depend on the stream.
      if (command.type === "RevertUser") result.events = events.map((event) => event.event_type);
      this.remember(request, result, now);
      // The safety net: afterCommit() normally sends these events at once.
      this.publisher.armIfFirst(outboxWasEmpty, now);
      const next = fold(events, state);
      maybeSnapshot(sql, state.revision, next, config(this.stream.env).SNAPSHOT_EVERY);
      this.stream.committed(request.userId, next);
      return { outcome: result, events };
    });
  }

  /** The idempotency record of a request that succeeded, if it came with a key. */
  private remember(request: CommitRequest, result: Success, now: number): void {
    if (!request.idempotency) return;
    const { key, fingerprint } = request.idempotency;
    saveIdempotencyRecord(this.stream.sql, scopedKey(request.metadata, key), { fingerprint, result }, now);
  }

  /**
   * What a revert to `to` would append if it were sent now, nothing appended and nothing claimed:
   * the decision on the state as it is, and then's username or email that someone else holds.
   */
  async previewRevert(to: RevertTarget, reason: string): Promise<RevertPreview> {
    const state = this.stream.current;
    const input = this.withPast({ type: "RevertUser", to, reason });
    const planned = planCommand(state, input, this.policy());
    if (!planned.ok) return planned;
    const decision = decide(state, withFacts(planned.value, {}), this.policy());
    if (!decision.ok) return decision;
    const owner = this.stream.userId;
    const holders = await Promise.all(
      planned.value.claims.map(async ({ field, value, key }) => ({
        field,
        value,
        holder: await identityRegistry(this.stream.env).holder(key),
      })),
    );
    const conflicts = holders
      .filter(({ holder }) => holder !== null && holder !== owner)
      .map(({ field, value }) => ({ field, value }));
    return { ok: true, revision: state.revision, events: decision.events, conflicts };
  }

  policy(): Policy {
    return { passwordMinLength: config(this.stream.env).PASSWORD_MIN_LENGTH, hashingMethod: HASHING_METHOD };
  }

  /**
   * Answers that need no decision: a caller's token this user no longer accepts, a replayed
   * idempotent request, a stale `If-Match`.
   */
  private precheck(request: CommitRequest): CommandResult | null {
    if (request.caller && !this.stream.acceptsSelf(request.metadata.actor_id, request.caller)) {
      return rejected({ code: "TokenRefused" });
    }
    if (request.idempotency && this.stream.stored) {
      const key = scopedKey(request.metadata, request.idempotency.key);
      const seen = findIdempotencyRecord<Success>(this.stream.sql, key);
      if (seen) {
        return seen.fingerprint === request.idempotency.fingerprint
          ? { ...seen.result, replayed: true }
          : rejected({ code: "IdempotencyKeyReused" });
      }
    }
    const revision = this.stream.current.revision;
    if (request.expectedRevision !== undefined && request.expectedRevision !== revision) {
      return rejected({ code: "RevisionMismatch", current_revision: revision });
    }
    return null;
  }

  /** The events' metadata; a self-command's actor is named as the stream has it now. */
  private metadataOf(request: CommitRequest): EventMetadata {
    const user = this.stream.current.user;
    return request.caller && user ? { ...request.metadata, actor_username: user.username } : request.metadata;
  }
}

function rejected(rejection: WriteRejection): CommandResult {
  return { ok: false, rejection };
}
